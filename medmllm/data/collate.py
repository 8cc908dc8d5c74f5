"""Batches: pad the text (right for training, left for generation) and stack each modality's inputs."""
from __future__ import annotations

import torch

from ..chat import MODALITIES


def collate(batch: list[dict | None], pad_id: int, left_pad: bool = False) -> dict[str, torch.Tensor]:
    """Pad text (right for training, left for generation) and stack each modality's inputs in order."""
    batch = [b for b in batch if b is not None]
    if not batch:
        return {}
    width = max(len(b["input_ids"]) for b in batch)
    out: dict[str, torch.Tensor] = {}
    for key, fill in (("input_ids", pad_id), ("labels", -100)):
        if key not in batch[0]:
            continue
        rows = []
        for b in batch:
            pad = torch.full((width - len(b[key]),), fill, dtype=torch.long)
            rows.append(torch.cat([pad, b[key]] if left_pad else [b[key], pad]))
        out[key] = torch.stack(rows)
    mask = [torch.ones(len(b["input_ids"]), dtype=torch.long) for b in batch]
    out["attention_mask"] = torch.stack([torch.cat([torch.zeros(width - len(m), dtype=torch.long), m] if left_pad
                                                   else [m, torch.zeros(width - len(m), dtype=torch.long)])
                                         for m in mask])
    for modality in MODALITIES:
        parts = [b[modality] for b in batch if modality in b]
        if parts:
            out[modality] = torch.cat(parts)
    return out
