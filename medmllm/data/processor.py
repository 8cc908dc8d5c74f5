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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ..chat import MODALITIES, PLACEHOLDERS, normalize_turns
from ..checks import at_least, length
from ..errors import FieldError, MedMLLMError, brief
from ..files import atomic_write
from ..threads import follow as follow_threads
from .preprocess import PreprocessConfig
from .transforms import pipeline
from .tokenizer import CHATML_TEMPLATE

IGNORE_INDEX = -100


def _input(modality: str) -> dict:
    """Field metadata marking an encoder-derived setting: `input_spec()` of a `modality` encoder gives it."""
    return {"input_of": modality}


@dataclass
class ProcessorSettings(PreprocessConfig):
    """Everything needed to turn files into the tensors a given set of weights expects: the
    preprocessing options (`PreprocessConfig`, from `model.preprocess`) plus what the model dictates,
    the tokens per input and each encoder's `input_spec()`. Saved flat as `processor_config.json`;
    `image_mean`/`image_std` left None become 0.5 per channel."""

    num_tokens: dict[str, int] = field(default_factory=dict)
    """Modality -> M, the placeholder tokens one input becomes."""
    image_size: int = field(default=224, metadata=_input("image"))
    """Images are resized to S x S pixels."""
    image_channels: int = field(default=3, metadata=_input("image"))
    """C: grey and colour images are converted to this many channels."""
    volume_size: list[int] = field(default_factory=lambda: [32, 64, 64], metadata=_input("volume"))
    """Volumes are resized to (D, H, W) voxels."""
    ecg_leads: int = field(default=12, metadata=_input("ecg"))
    """ECGs keep this many leads (standard order), zero-padded when they have fewer."""
    ecg_samples: int = field(default=5000, metadata=_input("ecg"))
    """ECGs are cropped or zero-padded to this many samples (at `ecg_rate`)."""

    def __post_init__(self):
        super().__post_init__()
        for name in ("image_mean", "image_std"):
            values = [float(v) for v in getattr(self, name) or [0.5] * self.image_channels]
            if len(values) != 1 and len(values) < self.image_channels:
                raise FieldError(name, f"{len(values)} values for {self.image_channels} image channels "
                                       "(give one per channel, or one for all)")
            setattr(self, name, values)
        self.volume_size = [int(v) for v in self.volume_size]
        length("volume_size", self.volume_size, 3, "(D, H, W)")
        for name in ("image_size", "image_channels", "ecg_leads", "ecg_samples"):
            at_least(name, getattr(self, name), 1)
        for i, v in enumerate(self.volume_size):
            at_least(f"volume_size[{i}]", v, 1)
        for modality, n in self.num_tokens.items():
            at_least(f"num_tokens.{modality}", n, 1)


def input_fields(modality: str) -> list[str]:
    """The settings an encoder of `modality` dictates: the keys of its `input_spec()`."""
    return [f.name for f in fields(ProcessorSettings) if f.metadata.get("input_of") == modality]


class MedMLLMProcessor:
    config_name = "processor_config.json"
    plain_pieces = True
    """`pieces` are strings with plain contents, tokenised as they are (so `lengths.token_counts` may
    count many conversations from one rendering per shape)."""
    isolates_packed_records = True
    """Records packed into one sample (`data.pack_turns`) are kept apart, each seeing the shared inputs
    and itself only (`ManifestDataset.process_apart`): the model must take a 4-D attention mask and
    position ids, as MedMLLM's LLM does."""

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
        try:
            data = json.loads(cfg.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            settings = ProcessorSettings(**data)
        except RecursionError:
            raise MedMLLMError(f"{cfg}: not valid processor settings (nested too deeply)") from None
        except (TypeError, ValueError, FieldError) as e:  # a corrupt file, an unknown key, a bad value
            raise MedMLLMError(f"{cfg}: not valid processor settings ({brief(e)})") from None
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
        follow_threads()  # resampling runs torch ops: threads for the cores free now (`threads.py`)
        sample = {modality: x}
        for transform in self.transforms(modality):
            sample = transform(sample)
        return sample[modality]

    def inputs(self, modality: str, xs: list) -> dict[str, torch.Tensor]:
        """A sample's inputs of one modality (paths, arrays or tensors already `load`ed), in placeholder
        order -> the model's input tensors for them, keyed as its forward takes them: here
        `{modality: (n, ...)}`. The collate step concatenates each key across a batch."""
        return {modality: torch.stack([x if isinstance(x, torch.Tensor) else self.load(modality, x) for x in xs])}

    def placeholder_ids(self) -> set[int]:
        """The token ids that stand for input features (never cut apart, never generated)."""
        return {self.tokenizer.convert_tokens_to_ids(ph) for ph in PLACEHOLDERS.values()}

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

    def messages(self, messages: list[dict]) -> list[dict]:
        """Turns normalised (`chat.normalize_turns`) to {role, content}, placeholders expanded to M copies."""
        return [{"role": m["role"], "content": self._expand(m["content"] or "")} for m in normalize_turns(messages)]

    def pieces(self, msgs: list[dict], generation_prompt: bool = False) -> list[tuple[str, bool]]:
        """The text `encode` tokenises, piece by piece: (text, True when it is in the loss). Rendered turn
        by turn: before each assistant turn the prompt so far (ending with the assistant header), then
        the answer with its end token; with `generation_prompt`, the closing assistant header."""
        out: list[tuple[str, bool]] = []
        done = ""
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            prompt = self._render(msgs[:i], True)
            full = self._render(msgs[: i + 1], False)
            out += [(prompt[len(done):], False), (full[len(prompt):], True)]
            done = full
        if generation_prompt or len(done) == 0:
            out.append((self._render(msgs, True)[len(done):] if msgs[-1]["role"] != "assistant" else "", False))
        return out

    def encode(self, messages: list[dict], generation_prompt: bool = False) -> dict[str, list[int]]:
        """Turns -> input_ids and labels. This is an edge of the library (users call it with their
        own messages), so turns go through `chat.normalize_turns`: {role, content} or LLaVA's {from, value}.

        Tokenised piece by piece (`pieces`) so the loss covers exactly the assistant's tokens (and its
        end token). With `generation_prompt`, the prompt ends with the assistant header (for generation)."""
        ids: list[int] = []
        labels: list[int] = []
        for text, answer in self.pieces(self.messages(messages), generation_prompt):
            part = self._ids(text)
            ids += part
            labels += part if answer else [IGNORE_INDEX] * len(part)
        return {"input_ids": ids, "labels": labels}

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

