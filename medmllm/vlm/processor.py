"""`VLMProcessor`: a record's turns and files -> a Hugging Face VLM's inputs (see `medmllm/vlm/__init__.py`).

It has `MedMLLMProcessor`'s interface (`encode`, `inputs`, `blank`, `decode`, save and load), so the
recipes, the engine, evaluation and the server take either. Settings are saved beside the model's own
tokenizer and image processor as `medmllm_vlm.json`.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..chat import PLACEHOLDERS
from ..checks import at_least
from ..data import flat, io
from ..data.preprocess import VLMInputs
from ..data.processor import MedMLLMProcessor
from ..data.transforms import LoadImaged, ResizeImaged
from ..errors import FieldError, MedMLLMError, brief
from ..files import atomic_write
from . import Family, family_of

SETTINGS = "medmllm_vlm.json"


@dataclass
class VLMSettings(VLMInputs):
    """The input policy (`VLMInputs`, from `model.vlm_inputs`) and what was fixed for this model."""

    model_type: str = ""
    """The model's `config.model_type`, which picks its `Family`."""
    side: int = 448
    """The square side every image is resized to (`image_size`, or the image processor's)."""
    num_tokens: dict[str, int] = field(default_factory=dict)
    """Image tokens per input, by modality: an image's count from the model's own vision path on a blank
    image; a volume's, that times its slices; an ECG plot's, one image's."""

    def __post_init__(self):
        super().__post_init__()
        at_least("side", self.side, 1)
        for modality, n in self.num_tokens.items():
            at_least(f"num_tokens.{modality}", n, 1)

    @property
    def volume_slices(self) -> int:
        return self.num_tokens["volume"] // self.num_tokens["image"]


class VLMProcessor(MedMLLMProcessor):
    isolates_packed_records = False
    """Packed records keep one causal mask: the families' own position schemes (Qwen's M-RoPE) are worked
    out from a 2-D mask, so a later record also sees the earlier ones' questions and answers."""
    config_name = SETTINGS
    plain_pieces = False  # image parts in the contents; markers expanded before tokenising

    def __init__(self, tokenizer, image_processor, settings: VLMSettings):
        self.image_processor = image_processor
        self.family: Family = family_of(settings.model_type)
        super().__init__(tokenizer, settings)

    # -- persistence ------------------------------------------------------------------------
    @staticmethod
    def parts(folder: str | Path):
        """The tokenizer and image processor of a model folder or hub id (checked before its weights load)."""
        from transformers import AutoImageProcessor, AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(folder), AutoImageProcessor.from_pretrained(folder)
        except (OSError, ValueError) as e:
            raise MedMLLMError(f"config key 'model.vlm': {folder} has no usable tokenizer and image processor "
                               f"({brief(e)})") from None

    @classmethod
    def for_model(cls, model, tokenizer, image_processor, inputs: VLMInputs | None = None):
        """The processor of `model` (with its tokenizer and image processor, `parts`) under the input policy
        `inputs`: the image side and the tokens per input."""
        inputs = inputs or VLMInputs()
        family = family_of(model.config.model_type)
        side = inputs.image_size or _fixed_side(image_processor) or family.default_image_size
        settings = VLMSettings(**asdict(inputs), model_type=model.config.model_type, side=side)
        proc = cls(tokenizer, image_processor, settings)
        n = _tokens_per_image(model, proc.pixels(np.zeros((3, side, side), np.float32)))
        k = min(inputs.slices, (inputs.max_image_tokens or n * inputs.slices) // n)
        if k < 1:
            raise MedMLLMError(f"config key 'model.vlm_inputs.max_image_tokens': {inputs.max_image_tokens} is below "
                               f"one slice ({n} tokens per image for this model)")
        settings.num_tokens.update(image=n, volume=n * k, ecg=n)
        return proc

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)
        atomic_write(folder / SETTINGS, json.dumps(asdict(self.settings), indent=2))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "VLMProcessor":
        from transformers import AutoImageProcessor, AutoTokenizer

        folder = Path(folder)
        try:
            data = json.loads((folder / SETTINGS).read_text(encoding="utf-8"))
            settings = VLMSettings(**data)
        except (OSError, TypeError, ValueError, FieldError) as e:
            raise MedMLLMError(f"{folder / SETTINGS}: not valid VLM settings ({brief(e)})") from None
        return cls(AutoTokenizer.from_pretrained(folder), AutoImageProcessor.from_pretrained(folder), settings)

    # -- inputs -----------------------------------------------------------------------------
    def pixels(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        """(3, H, W) in [0, 1] -> resized to the side, then the model's image processor's pixel inputs for
        it (e.g. `pixel_values`, and `image_grid_thw` for Qwen2-VL), the image along dimension 0."""
        t = torch.from_numpy(np.ascontiguousarray(image, np.float32))
        t = ResizeImaged("image", self.settings.side)({"image": t})["image"]
        rgb = (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (S, S, 3)
        out = self.image_processor(images=[rgb], return_tensors="pt")
        return {k: v for k, v in out.items() if k not in self.family.dropped}

    def images(self, modality: str, x: Any) -> np.ndarray:
        """One input as the (n, 3, H, W) images in [0, 1] the model sees: an image (DICOM windowed as
        `image_windows` says), a volume's slices (`slices`, in order), an ECG's paper plot."""
        s = self.settings
        if modality == "image":
            return _image(x, s.image_windows)[None]
        if modality == "volume":
            volume, orientation = _volume(x)
            return flat.slices(volume, s.volume_slices, s.volume_windows, orientation, s.plane)[0]
        if modality == "ecg":
            signal, rate, leads = (io.read_ecg(x) if isinstance(x, (str, Path)) else
                                   (np.asarray(x, np.float32), 500.0, list(io.STANDARD_LEADS)))
            return (flat.ecg_paper(signal, rate, leads).astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        raise MedMLLMError(f"unknown modality {modality!r}; choose from {', '.join(PLACEHOLDERS)}")

    def load(self, modality: str, x: Any) -> dict[str, torch.Tensor]:
        """One input (path or array) -> the model's pixel inputs for all its images, concatenated."""
        return _cat([self.pixels(im) for im in self.images(modality, x)])

    def inputs(self, modality: str, xs: list) -> dict[str, torch.Tensor]:
        return _cat([x if isinstance(x, dict) else self.load(modality, x) for x in xs])

    def blank(self, modality: str) -> dict[str, torch.Tensor]:
        """A black image for every image the input would give (a volume's slices, an ECG's plot)."""
        n = self.settings.num_tokens[modality] // self.settings.num_tokens["image"]
        return _cat([self.pixels(np.zeros((3, self.settings.side, self.settings.side), np.float32))] * n)

    # -- text -------------------------------------------------------------------------------
    def messages(self, messages: list[dict]) -> list[dict]:
        """Turns normalised; each `<image>` an image part of the content (the template writes the model's
        marker), each `<volume>` its slices as image parts labelled "Slice i of k: ", each `<ecg>` one image."""
        pattern = "(" + "|".join(re.escape(ph) + "\\n?" for ph in PLACEHOLDERS.values()) + ")"
        out = []
        for m in super().messages(messages):
            parts = []
            for chunk in re.split(pattern, m["content"]):
                kind = next((k for k, ph in PLACEHOLDERS.items() if chunk.startswith(ph)), None)
                if kind == "volume":
                    k = self.settings.volume_slices
                    for i in range(k):
                        parts += [{"type": "text", "text": f"Slice {i + 1} of {k}: "}, {"type": "image"}]
                elif kind is not None:
                    parts.append({"type": "image"})
                elif chunk:
                    parts.append({"type": "text", "text": chunk})
            has_image = any(p["type"] == "image" for p in parts)
            out.append({"role": m["role"], "content": parts if has_image else m["content"]})
        return out

    def _expand(self, text: str) -> str:
        """Placeholders stay as they are (`messages` makes image parts of them)."""
        return text

    def _ids(self, text: str) -> list[int]:
        text = text.replace(self.family.marker, self.family.expand(self.settings.num_tokens["image"]))
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def placeholder_ids(self) -> set[int]:
        return {self.tokenizer.convert_tokens_to_ids(self.family.image_token)}


def _cat(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _image(x: Any, windows: list[str]) -> np.ndarray:
    """An image path or array -> (3, H, W) in [0, 1]; a DICOM through each window (one per channel)."""
    if not isinstance(x, (str, Path)):
        arr = LoadImaged("image")({"image": x})["image"].numpy()
        return np.repeat(arr, 3, 0) if arr.shape[0] == 1 else arr[:3]
    path = Path(x)
    loaded = io.load(path)
    channels = [io.as_image(loaded, path, w) for w in (windows or [None])]
    if len(channels) == 1:
        arr = channels[0]
        return np.repeat(arr[None], 3, 0) if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.stack([c if c.ndim == 2 else c.mean(-1) for c in channels])


def _volume(x: Any) -> tuple[np.ndarray, list[float] | None]:
    """A volume path or (D, H, W) array -> its values (HU for CT) and acquisition orientation (DICOM)."""
    if not isinstance(x, (str, Path)):
        return np.asarray(x, np.float32), None
    path = Path(x)
    loaded = io.load(path)
    if loaded.kind != "volume" or loaded.array.ndim != 3:
        raise MedMLLMError(f"{path}: is a {loaded.format} {loaded.kind}, not a 3D volume")
    orientation = loaded.meta.get("orientation") if loaded.format.startswith("dicom") else None  # NIfTI: RAS
    return loaded.array.astype(np.float32), orientation


def _fixed_side(image_processor) -> int | None:
    size = getattr(image_processor, "size", None) or {}
    get = size.get if hasattr(size, "get") else lambda k: getattr(size, k, None)
    height, width = get("height"), get("width")
    return int(height) if height and height == width else None


def _tokens_per_image(model, pixels: dict[str, torch.Tensor]) -> int:
    """How many feature tokens the model makes of one image: counted on its own vision path."""
    with torch.no_grad():
        out = model.model.get_image_features(**pixels)
    feats = getattr(out, "pooler_output", None) if not isinstance(out, (torch.Tensor, list, tuple)) else out
    if isinstance(feats, (list, tuple)):
        return int(feats[0].shape[0])
    return int(feats.shape[1] if feats.dim() == 3 else feats.shape[0])
