"""Where a decode step's time goes at batch 16 (`benchmarks/decode.md`): torch.profiler over one
run of 32 new tokens per row for `model.generate()`, the eager decode loop and the compiled one,
the demo model (untrained, end token suppressed so every row makes 32 tokens), one thread.

    .venv/bin/python benchmarks/decode_profile.py [--batch 16]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import synth_data
from generation import NEW, base, ours, setup


def table(name: str, run) -> None:
    run()
    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1000
    print(f"\n## {name}: {total:.1f} ms of CPU (under the profiler)\n")
    print("| op | self ms | % | calls |\n|---|---|---|---|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:10]:
        ms = e.self_cpu_time_total / 1000
        print(f"| {e.key[:60]} | {ms:.1f} | {100 * ms / total:.0f} | {e.count} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, processor, eager, compiled, samples = setup(synth_data(None, n=60))
    rows = samples[:a.batch]
    print(f"batch {a.batch}, {NEW} new tokens per row")
    table("generate()", lambda: base(model, processor, rows, {}, [], []))
    table("decode loop, eager", lambda: ours(eager, rows, {}, [], []))
    table("decode loop, compiled", lambda: ours(compiled, rows, {}, [], []))


if __name__ == "__main__":
    main()
