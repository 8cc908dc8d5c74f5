"""What the RL-against-SFT benchmarks share: train one arm for a wall-clock budget from a start
model, and list the checkpoints it saved (with the final model's processor settings, so they load).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def train(config: str, start: Path, manifests: list[Path], out: Path, minutes: float, extra: list[str]) -> float:
    """`medmllm train CONFIG` from `start` on `manifests` for `minutes` of training; its wall seconds."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "medmllm.cli", "train", config, f"train.init_from={start}",
                    f"data.train=[{','.join(map(str, manifests))}]", f"train.output_dir={out}",
                    f"train.max_minutes={minutes}", "train.max_steps=100000", "train.save_total_limit=50", *extra],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def checkpoints(run: Path) -> list[Path]:
    """The run's checkpoints in step order, then its final model."""
    found = sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    for ckpt in found:
        shutil.copy(run / "model" / "processor_config.json", ckpt / "processor_config.json")
    return found + [run / "model"]


def step_of(ckpt: Path) -> int | None:
    """A checkpoint's global step (None for the final model)."""
    state = ckpt / "trainer_state.json"
    return json.loads(state.read_text())["global_step"] if ckpt.name != "model" and state.exists() else None
