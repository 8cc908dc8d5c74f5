"""Token-wise projectors (M = N): `linear` and LLaVA-1.5's `mlp2x_gelu`.

`positions: true` adds a learned (N, d_enc) table to the encoder's features *before* the projection,
started as the 2-D sine-cosine grid of MAE (1-D where N is not a square). A ViT's features carry their
patch's place (its position embedding); a CNN's barely do (only through the zero padding at the
borders), and the LLM's own 1-D positions give a token's place in the grid only as an index. Added in
front of the projector's non-linearity, place and content combine into features such as "finding X in
the left half", which survive the LLM's averaging over tokens: measured on the demo, the side of a
pneumothorax or effusion is read perfectly from the image tokens by place, but only at 0.70-0.90 from
their mean. Over three demo training seeds the table gave no measurable gain (`benchmarks/demo.md`),
so the demo leaves it off.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import CONNECTORS


def grid_positions(n: int, dim: int) -> torch.Tensor:
    """(n, dim) sine-cosine table of n tokens in row-major order: MAE's 2-D table (half the
    channels for the row, half for the column) when n is a square and dim divides by 4, else 1-D."""
    side = math.isqrt(n)

    def sincos(pos: torch.Tensor, d: int) -> torch.Tensor:  # (n,) -> (n, d): [sin | cos]
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / max(d // 2, 1))
        angles = pos.double()[:, None] * omega[None]  # (n, d/2)
        table = torch.cat([angles.sin(), angles.cos()], dim=1)  # (n, 2*(d//2))
        return nn.functional.pad(table, (0, d - table.shape[1])).float()  # (n, d)

    index = torch.arange(n)
    if side * side == n and dim % 4 == 0:
        return torch.cat([sincos(index // side, dim // 2), sincos(index % side, dim // 2)], dim=1)  # (n, dim)
    return sincos(index, dim)  # (n, dim)


class _TokenWise(nn.Module):
    """A per-token projection `proj` of N tokens, plus an optional learned (N, d_enc) position table
    added to the features in front of it."""

    def __init__(self, proj: nn.Module, in_dim: int, in_tokens: int, positions: bool):
        super().__init__()
        self.num_tokens = in_tokens
        self.proj = proj
        self.positions = nn.Parameter(grid_positions(in_tokens, in_dim)) if positions else None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.positions is not None:
            features = features + self.positions  # (B, N, d_enc)
        return self.proj(features)  # (B, N, d_enc) -> (B, N, d_llm)


@CONNECTORS.register("linear")
class LinearConnector(_TokenWise):
    """One linear map per token (LLaVA-1.0)."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int, positions: bool = False):
        super().__init__(nn.Linear(in_dim, out_dim), in_dim, in_tokens, positions)


@CONNECTORS.register("mlp2x_gelu")
class MLPConnector(_TokenWise):
    """Linear -> GELU -> Linear per token (LLaVA-1.5, LLaVA-Med)."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int, positions: bool = False):
        super().__init__(nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim)),
                         in_dim, in_tokens, positions)
