"""Load a causal LM's config, weights and tokenizer; add the modality placeholder tokens.

A pretrained LLM is a hub id or a local folder, optionally with a GGUF file inside it (`gguf_file`,
transformers' GGUF support: the weights are dequantised to fp32 when loaded, and the MedMLLM saved
after training holds them as ordinary safetensors).
"""
from __future__ import annotations

import importlib.util

from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedConfig, PreTrainedTokenizerBase

from ..errors import MedMLLMError, brief
from ..chat import PLACEHOLDERS


def _from_pretrained(loader, name: str, what: str, gguf_file: str | None = None, **kwargs):
    if gguf_file and importlib.util.find_spec("gguf") is None:
        raise MedMLLMError(f"config key 'model.llm.gguf_file': reading '{gguf_file}' needs the gguf package "
                           "(pip install gguf)")
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    try:
        return loader.from_pretrained(name, **kwargs)
    except (OSError, ValueError, KeyError) as e:
        where = f"'{name}'" + (f" (GGUF file '{gguf_file}')" if gguf_file else "")
        raise MedMLLMError(f"cannot load {what} from {where} (a hub id needs network access; a local folder "
                           f"needs its config and weights): {brief(e, 120)}") from None


def load_tokenizer(name: str, gguf_file: str | None = None) -> PreTrainedTokenizerBase:
    return add_placeholder_tokens(_from_pretrained(AutoTokenizer, name, "tokenizer", gguf_file))


def add_placeholder_tokens(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """`<image>`, `<volume>`, `<ecg>` become single special tokens (no-op when already there)."""
    missing = [p for p in PLACEHOLDERS.values() if p not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    return tokenizer


def tiny_llm_config(config: dict, tokenizer: PreTrainedTokenizerBase) -> PreTrainedConfig:
    """A tiny LLM's config from `config` (with `model_type`), sized to the tokenizer."""
    if "model_type" not in config:
        raise MedMLLMError("config key 'model.llm.config.model_type' is required for a tiny LLM (e.g. llama, qwen2)")
    try:
        return AutoConfig.for_model(**{**config, "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
                                        "eos_token_id": tokenizer.eos_token_id, "bos_token_id": None})
    except (ValueError, KeyError, TypeError) as e:
        raise MedMLLMError(f"config key 'model.llm.config': {str(e).splitlines()[0][:160]}") from None


def load_llm(pretrained: str, gguf_file: str | None = None):
    """A pretrained causal LM in fp32, its config cleaned of the GGUF quantisation marks (the weights
    are plain tensors once loaded), so the MedMLLM that copies them saves and reloads as usual."""
    import torch

    llm = _from_pretrained(AutoModelForCausalLM, pretrained, "LLM", gguf_file, dtype=torch.float32)
    if gguf_file:
        llm.hf_quantizer = None
        if hasattr(llm.config, "quantization_config"):
            del llm.config.quantization_config
    return llm
