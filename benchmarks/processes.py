"""The demo's SFT steps in one process with two threads against two one-thread processes (DDP).

    .venv/bin/python benchmarks/processes.py --run runs/demo --steps 150 --reps 2

From a finished demo run folder (its `data/` and `align/model`): `train.max_steps` steps of
`demo_sft.yaml` (global batch 16 either way), arms interleaved `--reps` times; each arm's steps/s is
the Trainer's own `train_steps_per_second` (the training loop only: not the start of the processes, the
data set's packing pass or the save). Prints and writes `<out>/processes.json`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ARMS = {"1 process x 2 threads": ["train.processes=1", "train.batch_size=16", "train.threads=2"],
        "2 processes x 1 thread": ["train.processes=2", "train.batch_size=8", "train.threads=1"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--out", type=Path, default=Path("runs/processes"))
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    data = args.run / "data"
    manifests = ",".join(str(data / f"xray_{t}_train.jsonl") for t in ("vqa", "reason", "report"))
    results = {arm: [] for arm in ARMS}
    for rep in range(args.reps):
        for arm, extra in ARMS.items():
            out = args.out / f"{arm.replace(' ', '')}-{rep}"
            t = time.perf_counter()
            subprocess.run([Path(sys.executable).parent / "medmllm", "train", "medmllm/configs/demo_sft.yaml",
                            f"data.train=[{manifests}]", f"train.init_from={args.run / 'align' / 'model'}",
                            f"train.output_dir={out}", f"train.max_steps={args.steps}", "train.save_steps=100000",
                            *extra], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            metrics = json.loads((out / "model" / "train_metrics.json").read_text())
            results[arm].append({"steps_per_second": metrics["train_steps_per_second"],
                                 "command_seconds": round(time.perf_counter() - t, 1)})
            print(arm, results[arm][-1], flush=True)
    from medmllm.files import atomic_write

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "processes.json", json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
