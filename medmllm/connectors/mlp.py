"""Token-wise projectors (M = N): `linear` and LLaVA-1.5's `mlp2x_gelu`."""
from __future__ import annotations

import torch
from torch import nn

from . import CONNECTORS


@CONNECTORS.register("linear")
class LinearConnector(nn.Module):
    """One linear map per token (LLaVA-1.0)."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int):
        super().__init__()
        self.num_tokens = in_tokens
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features)  # (B, N, d_enc) -> (B, N, d_llm)


@CONNECTORS.register("mlp2x_gelu")
class MLPConnector(nn.Module):
    """Linear -> GELU -> Linear per token (LLaVA-1.5, LLaVA-Med)."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int):
        super().__init__()
        self.num_tokens = in_tokens
        self.proj = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features)  # (B, N, d_enc) -> (B, N, d_llm)
