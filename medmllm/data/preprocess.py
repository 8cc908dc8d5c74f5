"""The user-settable preprocessing options: `PreprocessConfig`, the config's `model.preprocess` section,
and `VLMInputs`, its `model.vlm_inputs` section (how files become a 2D vision-language model's images).

`ProcessorSettings` (`processor.py`) extends it with what the encoders dictate (input sizes,
tokens per input), and `build.processor_settings` copies every field across generically, so a
new option is one field here (with its docstring and check) plus the transform that reads it
(`transforms.pipeline`). Values are checked on construction; a bad one raises `FieldError`
naming the field (`config.from_dict` adds the `model.preprocess.` prefix).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..checks import at_least, finite, length, positive
from ..errors import FieldError


@dataclass
class PreprocessConfig:
    image_mean: list[float] | None = None
    """Per-channel mean for image normalisation; None takes the pretrained processor's or 0.5."""
    image_std: list[float] | None = None
    """Per-channel std for image normalisation (each > 0); None takes the pretrained processor's or 0.5."""
    image_window: str | None = None
    """DICOM images: a named window (lung, mediastinum, bone, brain, abdomen, liver, stroke); None uses
    the file's own VOI LUT / WindowCenter-Width, or its full range."""
    volume_spacing: list[float] | None = None
    """Resample volumes to this spacing in mm (slice, row, column) before resizing; None keeps theirs."""
    hu_window: list[float] = field(default_factory=lambda: [-160.0, 240.0])
    """CT window [low, high] in Hounsfield units mapped to [0, 1] (default: abdomen soft tissue)."""
    ecg_rate: int = 500
    """ECG sampling rate in Hz that signals are resampled to."""
    ecg_scale: float = 1.0
    """ECG amplitudes (mV) are divided by this before the encoder."""

    def __post_init__(self):
        self._check_image()
        if self.volume_spacing is not None:
            length("volume_spacing", self.volume_spacing, 3, "(slice, row, column in mm)")
            for i, v in enumerate(self.volume_spacing):
                positive(f"volume_spacing[{i}]", v)
        length("hu_window", self.hu_window, 2, "[low, high]")
        for i, v in enumerate(self.hu_window):
            finite(f"hu_window[{i}]", v)
        if not self.hu_window[0] < self.hu_window[1]:
            raise FieldError("hu_window", f"{self.hu_window}: low must be below high")
        positive("ecg_rate", self.ecg_rate)
        positive("ecg_scale", self.ecg_scale)

    def _check_image(self) -> None:
        for name in ("image_mean", "image_std"):
            values = getattr(self, name)
            if values is not None and not values:
                raise FieldError(name, "[] must have one value per channel (or one for all), or be null")
            for i, v in enumerate(values or []):
                (positive if name == "image_std" else finite)(f"{name}[{i}]", v)
        sizes = {len(self.image_mean or [0]), len(self.image_std or [0])} - {1}
        if len(sizes) > 1:  # one value is used for every channel; otherwise one per channel
            raise FieldError("image_std", f"{len(self.image_std)} values but image_mean has {len(self.image_mean)}")
        if self.image_window is not None:
            from .io import WINDOW_PRESETS  # only when set: the readers import numpy and more

            if self.image_window.lower() not in WINDOW_PRESETS:
                raise FieldError("image_window", f"unknown window {self.image_window!r}; "
                                 f"choose from {', '.join(WINDOW_PRESETS)}")


@dataclass
class VLMInputs:
    """`model.vlm_inputs` (`medmllm/vlm`): saved with the model, so training, evaluation and serving feed
    it alike. Volumes become slices and ECGs paper plots as `data/flat.py` draws them."""

    image_size: int | None = None
    """Every image (and slice, and ECG plot) is resized to this square before the model's image processor,
    so each costs the same tokens; None: the image processor's fixed size, or 448 where it has none."""
    image_windows: list[str] = field(default_factory=list)
    """DICOM images: [] the file's own window (VOI LUT / WindowCenter-Width); one preset (e.g. lung) as
    grey; three presets as the three colour channels. Presets: `medmllm/data/io/base.py`."""
    volume_windows: list[str] = field(default_factory=lambda: ["wide", "soft_tissue", "brain"])
    """CT/MRI slices: windows as for `image_windows`; the default is MedGemma 1.5's CT colour (wide
    -1024..1024, soft tissue -135..215, brain 0..80 HU as R, G, B); [] maps each volume's own range (MRI)."""
    slices: int = 8
    """A volume becomes this many slices, evenly spaced from first to last, in order, each labelled
    "Slice i of k" (fewer when `max_image_tokens` allows fewer; a thinner volume repeats some)."""
    max_image_tokens: int | None = None
    """Token budget of one volume's slices: at most this many image tokens (slices x tokens per image)."""
    plane: Literal["axial", "coronal", "sagittal"] = "axial"
    """Plane the slices are cut in (a series acquired in another plane is re-sliced; non-oblique exact)."""

    def __post_init__(self):
        if self.image_size is not None:
            at_least("image_size", self.image_size, 1)
        at_least("slices", self.slices, 1, " (a volume needs at least one slice)")
        if self.max_image_tokens is not None:
            at_least("max_image_tokens", self.max_image_tokens, 1, " (a volume needs at least one slice)")
        from .io.base import WINDOW_PRESETS  # here, as above: the readers import numpy and more

        for name in ("image_windows", "volume_windows"):
            windows = getattr(self, name)
            if len(windows) not in (0, 1, 3):
                raise FieldError(name, f"{len(windows)} windows; give none, one (grey) or three (R, G, B)")
            for i, w in enumerate(windows):
                if w not in WINDOW_PRESETS:
                    raise FieldError(f"{name}[{i}]", f"unknown window {w!r}; choose from {', '.join(WINDOW_PRESETS)}")
