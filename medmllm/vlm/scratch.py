"""A Hugging Face VLM of a supported family built from scratch (random weights, a tokenizer trained
on your texts), saved as a folder that `model.vlm` loads like any pretrained one: what the tests and
the CPU-scale benchmarks train, with no hub."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..data.tokenizer import train_tokenizer
from ..errors import MedMLLMError
from ..files import atomic_folder
from . import FAMILIES


def chat_template(marker: str) -> str:
    """ChatML (as Qwen2 and SmolLM2) whose image parts are written as `marker` and a new line."""
    return ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
            "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for p in m['content'] %}"
            "{% if p['type'] == 'image' %}" + marker + "\n{% elif p['type'] == 'text' %}{{ p['text'] }}{% endif %}"
            "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def build(family: str, folder: str | Path, texts: Iterable[str], vision: dict | None = None, text: dict | None = None,
          image_size: int = 64, vocab: int = 1024) -> Path:
    """Save a random `family` model (vision tower and LLM sized by `vision` / `text` overrides) with a
    `vocab`-entry tokenizer trained on `texts` and its image processor into `folder`; returns it.
    LLaVA's `vision` may be any vision config whose hidden states are token sequences (SigLIP, Swin,
    FocalNet, LeViT) and may name `feature_layer`, the hidden state its projector reads (default -1)."""
    spec = FAMILIES.get(family)
    if spec.scratch is None:
        raise MedMLLMError(f"VLM family {family!r} has no from-scratch builder")
    tokenizer = train_tokenizer(texts, vocab)
    tokenizer.chat_template = chat_template(spec.marker)
    model, image_processor = spec.scratch(tokenizer, vision or {}, text or {}, image_size)
    with atomic_folder(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        image_processor.save_pretrained(tmp)
    return Path(folder)

