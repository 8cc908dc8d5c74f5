"""Batches: pad the text (right for training, left for generation) and concatenate the inputs."""
from __future__ import annotations

import torch

TEXT_KEYS = ("input_ids", "labels", "attention_mask", "segments", "position_ids")
"""Per-token keys (padded; `segments` and `position_ids` only from packed records kept apart,
`ManifestDataset.process_apart`); every other key of a sample holds its inputs (a processor's `inputs`:
the modality's tensors for a MedMLLM, pixel values for a Hugging Face VLM), concatenated along dim 0."""


def collate(batch: list[dict | None], pad_id: int, left_pad: bool = False) -> dict[str, torch.Tensor]:
    """Pad text (right for training, left for generation) and concatenate each input key in sample order."""
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
    if any("segments" in b for b in batch):  # packed records kept apart (`llm/mask.py`)
        out.update(_packed(batch, width))
    for key in dict.fromkeys(k for b in batch for k in b if k not in TEXT_KEYS):  # inputs, in first-seen order
        out[key] = torch.cat([b[key] for b in batch if key in b])
    return out


def _packed(batch: list[dict], width: int) -> dict[str, torch.Tensor]:
    """`segments` (B, L), -1 on padding, and `position_ids` (B, L) of right-padded samples; a sample
    without them (not packed) is one segment counting from 0."""
    seg = torch.full((len(batch), width), -1, dtype=torch.long)  # (B, L)
    pos = torch.zeros((len(batch), width), dtype=torch.long)  # (B, L)
    for i, b in enumerate(batch):
        n = len(b["input_ids"])
        seg[i, :n] = b["segments"] if "segments" in b else torch.zeros(n, dtype=torch.long)
        pos[i, :n] = b["position_ids"] if "position_ids" in b else torch.arange(n)
    return {"segments": seg, "position_ids": pos}
