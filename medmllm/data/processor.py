"""MedMLLMProcessor: sample dicts -> model tensors, with settings saved beside the weights.

* `load(modality, x)` turns a path or array into the encoder's input tensor through the
  modality's transform list (`transforms(modality)`, see `data/transforms.py`): image (C, H, W)
  windowed, resized and normalised; volume (1, D, H, W) windowed from HU and resized; ECG
  (leads, S) resampled to the model's rate, leads in standard order, cropped/padded to S samples.
* `encode(messages, ...)` renders a conversation with the tokenizer's chat template, expands
  each `<image>`/`<volume>`/`<ecg>` placeholder to M copies, and returns `input_ids` and
  `labels` with the loss on assistant tokens only.
The settings (`processor_config.json`) travel with the model so inputs always match the weights.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ..errors import MedMLLMError
from ..files import atomic_write
from ..chat import MODALITIES, PLACEHOLDERS, normalize_turns
from .transforms import pipeline
from .tokenizer import CHATML_TEMPLATE

IGNORE_INDEX = -100


@dataclass
class ProcessorSettings:
    """Everything needed to turn files into the tensors a given set of weights expects."""

    num_tokens: dict[str, int] = field(default_factory=dict)  # modality -> M
    image_size: int = 224
    image_channels: int = 3
    image_mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    image_std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    volume_size: list[int] = field(default_factory=lambda: [32, 64, 64])  # (D, H, W)
    image_window: str | None = None  # DICOM images: a preset (lung, bone, ...); None = the file's own window
    hu_window: list[float] = field(default_factory=lambda: [-160.0, 240.0])
    volume_spacing: list[float] | None = None  # resample volumes to this spacing (mm, D/H/W) before resizing
    ecg_rate: int = 500
    ecg_samples: int = 5000
    ecg_leads: int = 12
    ecg_scale: float = 1.0


class MedMLLMProcessor:
    config_name = "processor_config.json"

    def __init__(self, tokenizer: PreTrainedTokenizerBase, settings: ProcessorSettings):
        self.tokenizer = tokenizer
        self.settings = settings
        self._transforms: dict[str, list] = {}
        if tokenizer.chat_template is None:
            tokenizer.chat_template = CHATML_TEMPLATE
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    # -- persistence ------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(folder)
        atomic_write(folder / self.config_name, json.dumps(asdict(self.settings), indent=2))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "MedMLLMProcessor":
        folder = Path(folder)
        cfg = folder / cls.config_name
        if not cfg.is_file():
            raise MedMLLMError(f"{folder}: not a medmllm model folder (no {cls.config_name})")
        settings = ProcessorSettings(**json.loads(cfg.read_text()))
        return cls(AutoTokenizer.from_pretrained(folder), settings)

    # -- inputs -----------------------------------------------------------------------------
    def transforms(self, modality: str) -> list:
        """The modality's preprocessing as a list of dict transforms (see `data/transforms.py`);
        built from the settings on first use; edit the list to add steps."""
        if modality not in MODALITIES:
            raise MedMLLMError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
        if modality not in self._transforms:
            self._transforms[modality] = pipeline(modality, self.settings)
        return self._transforms[modality]

    def load(self, modality: str, x: Any) -> torch.Tensor:
        """A path or array of `modality` -> the encoder's input tensor for one input:
        image (C, S, S), volume (1, D, H, W), ECG (leads, samples)."""
        sample = {modality: x}
        for transform in self.transforms(modality):
            sample = transform(sample)
        return sample[modality]

    def blank(self, modality: str) -> torch.Tensor:
        """A blank input (all-black image, air-only volume, flat ECG): for the image-reliance check."""
        s = self.settings
        if modality == "image":
            return self.load("image", np.zeros((s.image_size, s.image_size), np.float32))
        if modality == "volume":
            return self.load("volume", np.full(s.volume_size, -1000.0, np.float32))
        return self.load("ecg", np.zeros((s.ecg_leads, s.ecg_samples), np.float32))

    # -- text -------------------------------------------------------------------------------
    def _render(self, messages: list[dict], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)

    def _expand(self, text: str) -> str:
        for modality, ph in PLACEHOLDERS.items():
            if ph in text:
                if modality not in self.settings.num_tokens:
                    raise MedMLLMError(f"text has a {ph} placeholder but the model has no {modality} encoder")
                text = text.replace(ph, ph * self.settings.num_tokens[modality])
        return text

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode(self, messages: list[dict], generation_prompt: bool = False) -> dict[str, list[int]]:
        """Turns -> input_ids and labels. This is an edge of the library (users call it with their
        own messages), so turns go through `chat.normalize_turns`: {role, content} or LLaVA's {from, value}.

        Rendered turn by turn so the loss covers exactly the assistant's tokens (and its end token).
        With `generation_prompt`, the prompt ends with the assistant header (for generation)."""
        msgs = [{"role": m["role"], "content": self._expand(m["content"] or "")} for m in normalize_turns(messages)]
        ids: list[int] = []
        labels: list[int] = []
        done = ""
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            prompt = self._render(msgs[:i], True)
            full = self._render(msgs[: i + 1], False)
            head, answer = self._ids(prompt[len(done):]), self._ids(full[len(prompt):])
            ids += head + answer
            labels += [IGNORE_INDEX] * len(head) + answer
            done = full
        if generation_prompt or len(done) == 0:
            tail = self._ids(self._render(msgs, True)[len(done):] if msgs[-1]["role"] != "assistant" else "")
            ids += tail
            labels += [IGNORE_INDEX] * len(tail)
        return {"input_ids": ids, "labels": labels}

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

