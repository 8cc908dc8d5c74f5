"""The decoder LLM: any Hugging Face causal LM (hub id or local folder) or a tiny one from a config."""
from .decoder import add_placeholder_tokens, llm_config, load_llm_weights, load_tokenizer

__all__ = ["add_placeholder_tokens", "llm_config", "load_llm_weights", "load_tokenizer"]
