"""1D signal encoder for ECG: a patch transformer over time (MONAI ViT, 1D), input (B, leads, samples)."""
from __future__ import annotations

from . import ENCODERS
from .vit import MonaiViT


@ENCODERS.register("vit1d")
class ECGViT(MonaiViT):
    """Each patch is `patch_size` samples across all leads; 1–12 leads, fixed length after resampling."""

    modality = "ecg"
    spatial_dims = 1

    def __init__(self, leads: int = 12, samples: int = 5000, patch_size: int = 100, **kwargs):
        super().__init__(leads, (samples,), (patch_size,), **kwargs)

    def input_spec(self) -> dict:
        return {"ecg_leads": self.in_channels, "ecg_samples": self.img_size[0]}
