"""Load a Hugging Face VLM of a supported family (the model itself, in fp32, no wrapper)."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from ..errors import MedMLLMError, brief
from . import family_of


def load_vlm(name: str | Path, key: str = "model.vlm", load_in_4bit: bool = False):
    """`AutoModelForImageTextToText.from_pretrained(name)` after its config names a supported family
    (`load_in_4bit`: NF4 weights for QLoRA, CUDA only); failures are one line naming `key` (the config
    key, or the folder being loaded)."""
    import torch
    from transformers import AutoModelForImageTextToText

    config = vlm_config(name, key)
    family = family_of(config.model_type)
    extra = {"dtype": torch.float32, "use_safetensors": True}  # a pickled checkpoint is never opened
    if load_in_4bit:
        extra.update(quantization_config=_nf4(), dtype=torch.bfloat16)
    try:
        model = AutoModelForImageTextToText.from_pretrained(name, **extra)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise MedMLLMError(f"{key}: cannot load the model weights from '{name}': {brief(e)}") from None
    if family.token_types:
        model.register_forward_pre_hook(partial(_token_types, family.token_types, config.image_token_id),
                                        with_kwargs=True)
    return model


def vlm_config(name: str | Path, key: str = "model.vlm"):
    """The model's config, once its type is known to be a supported family (else one line naming `key`)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as e:
        raise MedMLLMError(f"{key}: cannot read a model config from '{name}' (a hub id needs network access; a "
                           f"folder needs config.json): {brief(e)}") from None
    family_of(config.model_type)
    return config


def _nf4():
    """QLoRA's quantisation (Dettmers et al. 2023): 4-bit NormalFloat, double quantisation, bf16 compute."""
    import importlib.util

    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise MedMLLMError("config key 'model.vlm_load_in_4bit': 4-bit QLoRA needs a CUDA GPU and the bitsandbytes "
                           "package (pip install bitsandbytes)")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def _token_types(key: str, image_id: int, module, args, kwargs):
    """Forward pre-hook: with pixel inputs and no `key`, mark the image tokens of `input_ids` (1; text 0)."""
    ids = kwargs.get("input_ids", args[0] if args else None)
    if ids is not None and kwargs.get("pixel_values") is not None and kwargs.get(key) is None:
        kwargs[key] = (ids == image_id).int()
    return args, kwargs
