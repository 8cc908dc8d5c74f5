"""The decoder LLM: any Hugging Face causal LM (hub id, local folder or GGUF file) or a tiny one from a config."""
from .decoder import add_placeholder_tokens, load_llm, load_tokenizer, tiny_llm_config

__all__ = ["add_placeholder_tokens", "load_llm", "load_tokenizer", "tiny_llm_config"]
