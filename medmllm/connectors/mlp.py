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

`regions: g` appends one summary token: the encoder's square token grid average-pooled to g x g
regions, the g^2 region means concatenated (g^2 * d_enc) and projected by a Linear -> GELU -> Linear
of its own, as spatial pyramid pooling (He et al. 2014) keeps a coarse layout in one vector. Where a
finding is then is *what* that token holds (which block of its input carries it), so the LLM reads
"left" or "right" by content, linearly, without having to attend by place (`benchmarks/demo.md`).

`order: columns` hands the grid to the LLM column by column, so the image's left half is the first
half of the tokens (a threshold on a token's index rather than the index modulo the grid's width).
Neither it, the table nor the summary token taught the demo the sides: the cause was elsewhere
(packed questions that saw each other's answers, `benchmarks/demo.md`).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

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
    added to the features in front of it, and an optional region-summary token after them (M = N + 1)."""

    def __init__(self, proj: nn.Module, in_dim: int, out_dim: int, in_tokens: int, positions: bool, regions: int,
                 order: str = "rows"):
        super().__init__()
        side = math.isqrt(in_tokens)
        if regions and not (side * side == in_tokens and 0 < regions <= side):
            raise ValueError(f"connector regions: needs a square token grid and 1 <= regions <= its side; "
                             f"got {in_tokens} tokens and regions {regions}")
        if order not in ("rows", "columns") or (order == "columns" and side * side != in_tokens):
            raise ValueError(f"connector order: 'rows', or 'columns' on a square token grid; got {order!r} "
                             f"for {in_tokens} tokens")
        self.order = order
        self.num_tokens = in_tokens + (1 if regions else 0)
        self.proj = proj
        self.positions = nn.Parameter(grid_positions(in_tokens, in_dim)) if positions else None
        self.regions, self.side = regions, side
        self.summary = (nn.Sequential(nn.Linear(regions * regions * in_dim, out_dim), nn.GELU(),
                                      nn.Linear(out_dim, out_dim)) if regions else None)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The position table back to its sine-cosine start (also where a checkpoint saved without it is
        loaded into a model with it: transformers leaves a missing parameter uninitialised otherwise)."""
        if self.positions is not None:
            self.positions.copy_(grid_positions(*self.positions.shape))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(features if self.positions is None else features + self.positions)  # (B, N, d_llm)
        b, n, d = features.shape
        if self.order == "columns":  # the grid read column by column: the image's left half comes first
            tokens = tokens.reshape(b, self.side, self.side, -1).transpose(1, 2).reshape(b, n, -1)  # (B, N, d_llm)
        if self.summary is None:
            return tokens
        grid = features.transpose(1, 2).reshape(b, d, self.side, self.side)  # (B, d_enc, s, s), row-major
        pooled = F.adaptive_avg_pool2d(grid, self.regions)  # (B, d_enc, g, g)
        summary = self.summary(pooled.permute(0, 2, 3, 1).reshape(b, 1, -1))  # (B, 1, g*g*d_enc) -> (B, 1, d_llm)
        return torch.cat([tokens, summary], dim=1)  # (B, N + 1, d_llm)


@CONNECTORS.register("linear")
class LinearConnector(_TokenWise):
    """One linear map per token (LLaVA-1.0)."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int, positions: bool = False, regions: int = 0,
                 order: str = "rows"):
        super().__init__(nn.Linear(in_dim, out_dim), in_dim, out_dim, in_tokens, positions, regions, order)


@CONNECTORS.register("mlp2x_gelu")
class MLPConnector(_TokenWise):
    """Linear -> GELU -> Linear per token (LLaVA-1.5, LLaVA-Med)."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int, positions: bool = False, regions: int = 0,
                 order: str = "rows"):
        super().__init__(nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim)),
                         in_dim, out_dim, in_tokens, positions, regions, order)
