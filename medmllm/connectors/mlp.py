"""Token-wise projectors (M = N): `linear` and LLaVA-1.5's `mlp2x_gelu`.

`positions: true` adds a learned vector per token index to the projected tokens (zero at the start,
so an untrained table changes nothing). A ViT's features carry their patch's place (its position
embedding), a CNN's barely do (only through the zero padding at the borders), and the LLM's own 1-D
positions give a token's place in the 6 x 6 grid only as an index modulo 6; with the table "left" and
"right" are a direction in each token's embedding (`benchmarks/demo.md`).
"""
from __future__ import annotations

import torch
from torch import nn

from . import CONNECTORS


class _TokenWise(nn.Module):
    """A per-token projection `proj` of N tokens, plus an optional learned (N, d_llm) position table."""

    def __init__(self, proj: nn.Module, out_dim: int, in_tokens: int, positions: bool):
        super().__init__()
        self.num_tokens = in_tokens
        self.proj = proj
        self.positions = nn.Parameter(torch.zeros(in_tokens, out_dim)) if positions else None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(features)  # (B, N, d_enc) -> (B, N, d_llm)
        return tokens if self.positions is None else tokens + self.positions  # (B, N, d_llm)


@CONNECTORS.register("linear")
class LinearConnector(_TokenWise):
    """One linear map per token (LLaVA-1.0)."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int, positions: bool = False):
        super().__init__(nn.Linear(in_dim, out_dim), out_dim, in_tokens, positions)


@CONNECTORS.register("mlp2x_gelu")
class MLPConnector(_TokenWise):
    """Linear -> GELU -> Linear per token (LLaVA-1.5, LLaVA-Med)."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int, positions: bool = False):
        super().__init__(nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim)),
                         out_dim, in_tokens, positions)
