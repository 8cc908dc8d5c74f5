"""Patch ViT over N-d signals (MONAI's `ViT`), shared by the volume (3D) and ECG (1D) encoders."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


class MonaiViT(nn.Module):
    """MONAI `ViT` (patch-embed + transformer blocks), returning patch tokens (B, N, hidden)."""

    spatial_dims = 3

    def __init__(self, in_channels: int, img_size: Sequence[int], patch_size: Sequence[int], hidden_size: int = 64,
                 mlp_dim: int = 128, num_layers: int = 2, num_heads: int = 4, dropout_rate: float = 0.0):
        super().__init__()
        from monai.networks.nets.vit import ViT  # imported lazily: MONAI takes seconds to import

        img_size, patch_size = tuple(img_size), tuple(patch_size)
        if len(img_size) != self.spatial_dims or len(patch_size) != self.spatial_dims:
            raise ValueError(f"img_size and patch_size need {self.spatial_dims} values, got {img_size}, {patch_size}")
        self.vit = ViT(in_channels=in_channels, img_size=img_size, patch_size=patch_size, hidden_size=hidden_size,
                       mlp_dim=mlp_dim, num_layers=num_layers, num_heads=num_heads, dropout_rate=dropout_rate,
                       classification=False, spatial_dims=self.spatial_dims, qkv_bias=True)
        for block in self.vit.blocks:  # cross-attention is off: drop its norm, else DDP sees unused parameters
            block.norm_cross_attn = nn.Identity()
        self.img_size, self.in_channels, self._out_dim = list(img_size), in_channels, hidden_size
        self._num_patches = math.prod(s // p for s, p in zip(img_size, patch_size))

    @property
    def out_dim(self) -> int:
        return self._out_dim

    @property
    def num_patches(self) -> int:
        return self._num_patches

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, _ = self.vit(x)  # (B, C, *spatial) -> (B, N, hidden)
        return tokens
