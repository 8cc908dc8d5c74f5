"""Hugging Face vision-language models (`model.vlm`: LLaVA, Qwen2-VL / Qwen2.5-VL, ...) trained,
evaluated and served by the same recipes, engine and server as a `MedMLLM`.

Design: the Hugging Face model itself is the model (`AutoModelForImageTextToText`, no wrapper), so
transformers' Trainer, peft, `generate()` and `save_pretrained` work on it unchanged. What differs
from a `MedMLLM` lives in two places:

* `VLMProcessor` (`processor.py`), the same interface as `MedMLLMProcessor`: a record's turns go
  through the model's own chat template with each `<image>` as an image part; the text the template
  writes for an image (the family's `marker`) is expanded to the model's image tokens (`expand`),
  as many as its vision tower gives per image (counted once on a blank image, saved with the
  model); an image file (PNG, JPEG, DICOM with its window) becomes the model's pixel inputs through
  its own image processor, after being resized to a fixed square (`image_size`), so every image
  costs the same number of tokens.
* A `Family` per architecture (`families/`, one small file each, registered by folder): the model
  types it covers, the chat-template marker and its expansion, and which module names make the
  vision tower (`encoders.image`), the projector (`connectors.image`) and the language model (`llm`)
  for the `train.trainable` policy.

HF processors are not used to expand text: several (Qwen2-VL, SmolVLM) cannot be built without
torchvision's video processor, which this project does not install (`../shared/reference/feasibility.md`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import MedMLLMError
from ..registry import Registry, import_modules


@dataclass(frozen=True)
class Family:
    """One Hugging Face VLM architecture, as medmllm needs to know it."""

    model_types: tuple[str, ...]
    """`config.model_type` values this family covers."""
    marker: str
    """What the model's chat template writes for one image part (e.g. LLaVA's `<image>`)."""
    image_token: str
    """The token the model replaces by image features, `config.image_token_id`'s token."""
    expansion: str = ""
    """What one marker becomes, `{tokens}` standing for the image's n image tokens (Gemma 3:
    "\\n\\n<start_of_image>{tokens}<end_of_image>\\n\\n"); empty: the marker with its image token n times."""
    parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Policy unit (`encoders.image`, `connectors.image`, `llm`) -> module names in the model."""
    default_image_size: int = 448
    """Image side used when the image processor names no fixed size (dynamic-resolution models)."""
    dropped: tuple[str, ...] = ()
    """Image-processor outputs the model's forward does not take (Gemma 3's `num_crops`)."""
    token_types: str | None = None
    """The per-token input marking image tokens (1) among text (0) that the model's forward needs with
    images (Qwen2-VL's `mm_token_type_ids` for its 3-D rotary positions); added from `input_ids` by a
    forward pre-hook (`vlm.model.load_vlm`), so the trainer, `generate()` and every recipe pass it
    without knowing."""
    scratch: Callable | None = None
    """`scratch(tokenizer, vision, text, image_size) -> (model, image_processor)`: a randomly initialised
    model of this family (`vision`/`text`: config overrides) around `tokenizer`, whose special tokens it
    adds; used by `vlm.scratch.build` for CPU-scale experiments and tests."""

    def expand(self, n: int) -> str:
        """The text one image marker becomes for an image of `n` feature tokens."""
        if self.expansion:
            return self.expansion.replace("{tokens}", self.image_token * n)
        return self.marker.replace(self.image_token, self.image_token * n)


FAMILIES: Registry[Family] = Registry("VLM family")


def family_of(model_type: str) -> Family:
    for name in FAMILIES.names():
        if model_type in FAMILIES.get(name).model_types:
            return FAMILIES.get(name)
    known = sorted(t for name in FAMILIES.names() for t in FAMILIES.get(name).model_types)
    raise MedMLLMError(f"config key 'model.vlm': model type {model_type!r} is not a supported VLM family; "
                       f"choose a model of type {', '.join(known)}")


from . import families as _families  # noqa: E402

import_modules(_families.__name__, _families.__path__)  # each family file registers itself
