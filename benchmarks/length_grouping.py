"""Length-grouped batches (`data.group_by_length`) against shuffled ones on the demo's SFT data:
padding share over an epoch, and useful (non-padding) tokens per second of training steps.

    .venv/bin/python benchmarks/length_grouping.py --data /tmp/fulldemo/data [--steps 12 --reps 3]

The demo's SFT set (x-ray VQA, reasoning and reports, `pack_turns: 8`, `max_length: 384`, batches
of 16), the demo-size model (untrained weights: step time does not depend on them). Padding is
counted over the whole epoch's batches in each order; step time on the first `--steps` batches of
each order, the two orders interleaved `--reps` times (median reported).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import RandomSampler
from transformers.trainer_pt_utils import LengthGroupedSampler


def padding_share(order: list[int], lengths: list[int], batch: int) -> tuple[float, int]:
    batches = [[lengths[i] for i in order[k:k + batch]] for k in range(0, len(order), batch)]
    return sum(len(b) * max(b) - sum(b) for b in batches) / sum(len(b) * max(b) for b in batches), len(batches)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    from medmllm.build import build_model
    from medmllm.config import load_config
    from medmllm.data.collate import collate
    from medmllm.data.manifest import ManifestDataset
    from medmllm.recipes._trainer import training_texts

    manifests = [str(args.data / f"xray_{t}_train.jsonl") for t in ("vqa", "reason", "report")]
    cfg = load_config(Path("medmllm/configs/demo_align.yaml"), [])
    model, processor = build_model(cfg.model, training_texts(manifests))
    t = time.perf_counter()
    ds = ManifestDataset(manifests, processor, max_length=384, pack_turns=8)
    lengths = ds.lengths()
    startup = time.perf_counter() - t
    g = torch.Generator().manual_seed(0)
    orders = {"shuffled": list(RandomSampler(ds, generator=g)),
              "grouped": list(LengthGroupedSampler(16, lengths=lengths, generator=g))}
    out = {"items": len(ds), "dataset_startup_s": round(startup, 1)}
    for name, order in orders.items():
        share, n = padding_share(order, lengths, 16)
        out[f"{name}_padding_share"] = round(share, 3)
        out["batches_per_epoch"] = n
    batches = {name: [collate([ds[i] for i in order[k * 16:(k + 1) * 16]], processor.tokenizer.pad_token_id)
                      for k in range(args.steps)] for name, order in orders.items()}
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times = {name: [] for name in orders}
    for _ in range(args.reps):
        for name, bs in batches.items():
            t = time.perf_counter()
            for b in bs:
                model(**b).loss.backward()
                opt.step()
                opt.zero_grad()
            times[name].append(time.perf_counter() - t)
    for name, bs in batches.items():
        useful = sum(int(b["attention_mask"].sum()) for b in bs)
        total = sum(b["attention_mask"].numel() for b in bs)
        sec = statistics.median(times[name])
        out[name] = {"seconds": round(sec, 2), "useful_tokens_per_s": round(useful / sec), "tokens_per_s": round(total / sec),
                     "padding_share_of_timed_batches": round(1 - useful / total, 3),
                     "range_s": [round(min(times[name]), 2), round(max(times[name]), 2)]}
    out["useful_tokens_per_s_ratio"] = round(out["grouped"]["useful_tokens_per_s"] / out["shuffled"]["useful_tokens_per_s"], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
