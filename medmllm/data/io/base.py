"""What every reader returns, and the windowing that turns physical values into [0, 1]."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import MedMLLMError

# Named CT windows as (centre, width) in HU; the values radiology textbooks and viewers use.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (40.0, 400.0),
    "liver": (60.0, 160.0),
    "stroke": (40.0, 40.0),
    # MedGemma 1.5's three CT channels (its CT notebook): wide -1024..1024, soft tissue -135..215, brain 0..80
    "wide": (0.0, 2048.0),
    "soft_tissue": (40.0, 350.0),
}


@dataclass
class Loaded:
    """One file (or DICOM series) as read, before any windowing or resizing.

    `array` holds physical values (after the DICOM modality LUT: HU for CT; mV for ECG):
    image (H, W) or (H, W, 3); volume (D, H, W), slices first; signal (leads, samples).
    """

    kind: str  # image | volume | signal
    array: np.ndarray
    format: str
    spacing: tuple[float, ...] | None = None  # mm, in array order
    sampling_rate: float | None = None  # Hz, signals only
    modality: str | None = None  # DICOM Modality (CT, MR, CR, ECG, ...) when known
    window: dict[str, Any] | None = None  # {"center", "width", "source"} from the file's tags
    leads: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON-able description `medmllm data inspect` prints: `dtype` is the stored one, `min` and
        `max` are of the physical values (after the modality LUT, before any window)."""
        a = self.array
        meta = dict(self.meta)
        out: dict[str, Any] = {"kind": self.kind, "format": self.format, "shape": list(a.shape),
                               "dtype": meta.pop("stored_dtype", str(a.dtype)),
                               "min": float(np.nanmin(a)) if a.size else None,
                               "max": float(np.nanmax(a)) if a.size else None,
                               "modality": self.modality, "window": self.window}
        if self.kind == "signal":
            out["sampling_rate"] = self.sampling_rate
            out["leads"] = self.leads
        else:
            out["spacing"] = list(self.spacing) if self.spacing else None
        return {**out, **meta}


def resolve_window(window: str | tuple[float, float] | list[float] | None, path: object = "") -> tuple[float, float] | None:
    """A preset name or (centre, width) -> (centre, width); None stays None."""
    if window is None:
        return None
    if isinstance(window, str):
        if window.lower() not in WINDOW_PRESETS:
            raise MedMLLMError(f"{path}: unknown window {window!r}; choose from {', '.join(WINDOW_PRESETS)} "
                               "or give centre,width")
        return WINDOW_PRESETS[window.lower()]
    center, width = (float(v) for v in window)
    if width < 1:
        raise MedMLLMError(f"{path}: window width must be >= 1, got {width}")
    return center, width


def apply_window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """A DICOM VOI window function (PS3.3 C.11.2.1.2) scaled to [0, 1]: LINEAR (the default),
    LINEAR_EXACT or SIGMOID, as the file's VOILUTFunction says."""
    x = values.astype(np.float64)
    if function == "SIGMOID":
        return (1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))).astype(np.float32)
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / width + 0.5, 0.0, 1.0).astype(np.float32)
    lo = center - 0.5 - (width - 1) / 2
    out = (values.astype(np.float32) - (center - 0.5)) / max(width - 1, 1e-6) + 0.5
    out[values <= lo] = 0.0
    out[values > center - 0.5 + (width - 1) / 2] = 1.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def min_max(values: np.ndarray) -> np.ndarray:
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    return np.nan_to_num((values.astype(np.float32) - lo) / max(hi - lo, 1e-6)).astype(np.float32)
