"""Rows of GRPO rollouts, for dynamic sampling (DAPO): find the prompt groups whose rewards differ, take
rows (with the modality inputs they own) out of a sampled round, and join rounds into one batch,
re-padding prompts (left) and completions (right) to common widths. A round is a dict as
`GRPOTrainer.sample` returns it: per-row tensors `ROW_KEYS`, `scores` {name: (N,)}, `texts`, and
`inputs` {modality: (n_inputs, ...)}, stacked in row order, row i owning `input_counts[i, j]`
consecutive inputs of modality `MODALITIES[j]`.
"""
from __future__ import annotations

import itertools

import torch

ROW_KEYS = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "rewards", "input_counts")


def varied_rows(rewards: torch.Tensor, group_size: int) -> list[int]:
    """The rows of the groups whose G rewards are not all equal (the others have advantage 0 everywhere)."""
    groups = rewards.view(-1, group_size)  # (B, G)
    varied = (groups != groups[:, :1]).any(1).tolist()
    return [i for i in range(rewards.numel()) if varied[i // group_size]]


def take_rows(part: dict, rows: list[int]) -> dict:
    """Rows `rows` (in that order) of a sampled round (`GRPOTrainer.sample`): its per-row tensors, scores,
    texts, and the modality inputs those rows own (row i owns `input_counts[i]` consecutive inputs)."""
    index = torch.tensor(rows, dtype=torch.long)
    out = {k: part[k][index.to(part[k].device)] for k in ROW_KEYS}
    out["scores"] = {name: v[index] for name, v in part["scores"].items()}
    out["texts"] = [part["texts"][i] for i in rows]
    out["input_keys"], out["inputs"] = part["input_keys"], {}
    for j, key in enumerate(part["input_keys"]):
        counts = part["input_counts"][:, j].tolist()
        starts = [0, *itertools.accumulate(counts)]
        owned = [k for i in rows for k in range(starts[i], starts[i] + counts[i])]
        if owned:
            x = part["inputs"][key]
            out["inputs"][key] = x[torch.tensor(owned, device=x.device)]
    return out


def _fit(t: torch.Tensor, width: int, value: int, left: bool) -> torch.Tensor:
    """(N, W) -> (N, width), cutting (padding only, as `width` is the longest row) or adding padding on
    the left (`left`) or on the right."""
    t = t[:, max(t.shape[1] - width, 0):] if left else t[:, :width]
    fill = t.new_full((t.shape[0], width - t.shape[1]), value)
    return torch.cat([fill, t] if left else [t, fill], 1)


def concat_rows(parts: list[dict], pad_id: int) -> dict:
    """Rows sampled in different rounds as one batch: prompts left-padded and completions right-padded to
    the longest of them, per-row values, scores and texts concatenated, and each modality's inputs
    concatenated in row order. A row's positions shift with its added left padding, which the LLM's
    rotary (relative) positions do not see."""
    def width(key: str) -> int:
        lengths = torch.cat([p[key].sum(1) for p in parts])
        return int(lengths.max()) if lengths.numel() else 0

    out = {}
    for key, fill, left in (("prompt_ids", pad_id, True), ("prompt_mask", 0, True),
                            ("completion_ids", pad_id, False), ("completion_mask", 0, False)):
        w = width(key.replace("_ids", "_mask"))
        out[key] = torch.cat([_fit(p[key], w, fill, left) for p in parts])
    out["rewards"] = torch.cat([p["rewards"] for p in parts])
    out["input_keys"] = list(dict.fromkeys(k for p in parts for k in p["input_keys"]))
    out["input_counts"] = torch.cat([_columns(p, out["input_keys"]) for p in parts])
    out["scores"] = {name: torch.cat([p["scores"][name] for p in parts]) for name in parts[0]["scores"]}
    out["texts"] = [t for p in parts for t in p["texts"]]
    out["inputs"] = {k: torch.cat([p["inputs"][k] for p in parts if k in p["inputs"]])
                     for k in out["input_keys"] if any(k in p["inputs"] for p in parts)}
    return out


def _columns(part: dict, keys: list[str]) -> torch.Tensor:
    """A round's `input_counts` with one column per key of `keys` (0 for a key it has none of)."""
    counts = part["input_counts"]
    zero = counts.new_zeros(counts.shape[0])
    return torch.stack([counts[:, part["input_keys"].index(k)] if k in part["input_keys"] else zero for k in keys], 1)
