"""The attention mask of packed records kept apart (`data.pack_turns`, `ManifestDataset.process_apart`).

A packed sample is the tokens its records share (the template's header and the inputs' placeholders)
followed by each record's own tokens; `segments` numbers them 0 (shared), 1, 2, ... and -1 on padding.
A token may attend to an earlier token of the shared part or of its own record, so each record is
trained on exactly what it would see alone (with `position_ids` restarting after the shared part),
while the inputs are encoded and the shared tokens computed once. Written here because transformers'
packing support (`DataCollatorWithFlattening`) resets positions per sequence but shares no prefix.
"""
from __future__ import annotations

import torch


def packed_attention(segments: torch.Tensor, dtype: torch.dtype, additive: bool) -> torch.Tensor:
    """`segments` (B, L) -> the (B, 1, L, L) mask: True where a query may attend a key (as SDPA takes
    it), or with `additive` 0 / the dtype's minimum (as eager attention adds it). A padding row sees
    itself only, so no row is empty."""
    query, key = segments[:, :, None], segments[:, None, :]  # (B, L, 1), (B, 1, L)
    width = segments.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=segments.device).tril()  # (L, L)
    allowed = causal & (key >= 0) & (query >= 0) & ((key == 0) | (key == query))  # (B, L, L)
    allowed = (allowed | torch.eye(width, dtype=torch.bool, device=segments.device))[:, None]  # (B, 1, L, L)
    if not additive:
        return allowed
    blocked = torch.finfo(dtype).min
    return torch.zeros(allowed.shape, dtype=dtype, device=segments.device).masked_fill(~allowed, blocked)
