"""`pool`: average-pool N feature vectors to M tokens, then the 2-layer MLP projector.

Cheap token reduction for long inputs (3D volumes, ECGs); the pooling keeps token order,
so neighbouring patches are merged (1D adaptive pooling over the token sequence).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from . import CONNECTORS


@CONNECTORS.register("pool")
class PoolConnector(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, in_tokens: int, num_tokens: int = 16):
        super().__init__()
        if not 0 < num_tokens <= in_tokens:
            raise ValueError(f"pool connector: num_tokens must be in 1..{in_tokens} (the encoder's N), got {num_tokens}")
        self.num_tokens = num_tokens
        self.proj = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool1d(features.transpose(1, 2), self.num_tokens)  # (B, d_enc, M)
        return self.proj(pooled.transpose(1, 2))  # (B, M, d_enc) -> (B, M, d_llm)
