"""3D volume encoder for CT/MRI: a ViT with 3D patch embedding (MONAI), input (B, 1, D, H, W)."""
from __future__ import annotations

from typing import Sequence

from . import ENCODERS
from .vit import MonaiViT


@ENCODERS.register("vit3d")
class VolumeViT(MonaiViT):
    """`img_size` is (D, H, W) after preprocessing; `patch_size` divides it; one channel (HU, windowed)."""

    modality = "volume"
    spatial_dims = 3

    def __init__(self, img_size: Sequence[int] = (32, 64, 64), patch_size: Sequence[int] = (8, 16, 16),
                 in_channels: int = 1, **kwargs):
        super().__init__(in_channels, img_size, patch_size, **kwargs)

    def input_spec(self) -> dict:
        return {"volume_size": list(self.img_size)}
