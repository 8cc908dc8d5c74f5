"""Load a causal LM's config, weights and tokenizer; add the modality placeholder tokens."""
from __future__ import annotations

from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedConfig, PreTrainedTokenizerBase

from ..errors import MedMLLMError
from ..chat import PLACEHOLDERS


def _from_pretrained(loader, name: str, what: str):
    try:
        return loader.from_pretrained(name)
    except (OSError, ValueError) as e:
        raise MedMLLMError(f"cannot load {what} from '{name}' (a hub id needs network access; a local folder "
                           f"needs its config and weights): {str(e).splitlines()[0][:120]}") from None


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    return add_placeholder_tokens(_from_pretrained(AutoTokenizer, name, "tokenizer"))


def add_placeholder_tokens(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """`<image>`, `<volume>`, `<ecg>` become single special tokens (no-op when already there)."""
    missing = [p for p in PLACEHOLDERS.values() if p not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    return tokenizer


def llm_config(pretrained: str | None, config: dict, tokenizer: PreTrainedTokenizerBase) -> PreTrainedConfig:
    """The LLM's config: read from `pretrained`, or a tiny one from `config` sized to the tokenizer."""
    if pretrained:
        return _from_pretrained(AutoConfig, pretrained, "LLM config")
    if "model_type" not in config:
        raise MedMLLMError("config key 'model.llm.config.model_type' is required for a tiny LLM (e.g. llama, qwen2)")
    try:
        return AutoConfig.for_model(**{**config, "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
                                        "eos_token_id": tokenizer.eos_token_id, "bos_token_id": None})
    except (ValueError, KeyError, TypeError) as e:
        raise MedMLLMError(f"config key 'model.llm.config': {str(e).splitlines()[0][:160]}") from None


def load_llm_weights(llm, pretrained: str) -> None:
    """Copy a pretrained causal LM's weights into `llm` (built from the same config)."""
    source = _from_pretrained(AutoModelForCausalLM, pretrained, "LLM")
    llm.load_state_dict(source.state_dict())
