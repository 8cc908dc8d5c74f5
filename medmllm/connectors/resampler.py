"""`resampler`: a perceiver resampler (Flamingo, Q-Former-like): M learned latents cross-attend to F.

Each layer: latents <- latents + CrossAttn(LN(latents), LN([F; latents])); latents <- latents + FF(LN(latents)).
The output count M is fixed whatever N is, which suits 3D volumes and long signals.
"""
from __future__ import annotations

import torch
from torch import nn

from . import CONNECTORS


class _ResamplerLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_kv, self.norm_q, self.norm_ff = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, latents: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        q = self.norm_q(latents)  # (B, M, D)
        kv = torch.cat([self.norm_kv(features), q], dim=1)  # (B, N + M, D)
        latents = latents + self.attn(q, kv, kv, need_weights=False)[0]  # (B, M, D)
        return latents + self.ff(self.norm_ff(latents))  # (B, M, D)


@CONNECTORS.register("resampler")
class ResamplerConnector(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, in_tokens: int, num_tokens: int = 16, depth: int = 2,
                 heads: int = 4, dim: int | None = None):
        super().__init__()
        dim = dim or in_dim
        self.num_tokens = num_tokens
        self.inp = nn.Linear(in_dim, dim)
        self.latents = nn.Parameter(torch.randn(num_tokens, dim) * 0.02)
        self.layers = nn.ModuleList(_ResamplerLayer(dim, heads) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_dim))

    def reset_parameters(self) -> None:
        nn.init.normal_(self.latents, std=0.02)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.inp(features)  # (B, N, D)
        latents = self.latents.unsqueeze(0).expand(x.shape[0], -1, -1)  # (B, M, D)
        for layer in self.layers:
            latents = layer(latents, x)  # (B, M, D)
        return self.out(latents)  # (B, M, d_llm)
