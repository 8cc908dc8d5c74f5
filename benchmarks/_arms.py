"""What the equal-time benchmarks share: train one arm for a wall-clock budget (from a start model or
from the config's), list the checkpoints it saved (with the final model's processor settings, so they
load), summarise the run, and score MedSynth x-ray VQA with the blank image beside.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def train(config: str, start: Path | None, manifests: list[Path], out: Path, minutes: float, extra: list[str]) -> float:
    """`medmllm train CONFIG` from `start` (None: the config's `model`) on `manifests` for `minutes` of
    training; its wall seconds."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "medmllm.cli", "train", config, *([f"train.init_from={start}"] if start else []),
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


def vqa_scores(model: Path, data: Path, out: Path, limit: int) -> dict:
    """MedSynth x-ray VQA test scores of `model` on the first `limit` questions in `data`, blank image beside."""
    from medmllm.eval.backends import BACKENDS
    from medmllm.eval.evaluate import run
    from medmllm.eval.tasks import resolve

    t = time.perf_counter()
    results = run(BACKENDS.get("local")(model, batch_size=32), [resolve("medsynth-xray-vqa", data)], out,
                  blank=True, limit=limit)
    task = next(iter(results["tasks"].values()))
    got, blank = task["scores"], task["blank_scores"]
    families = {k: round(v["closed_accuracy"], 3) for k, v in task["by_category"].items() if "closed_accuracy" in v}
    return {"closed_accuracy": round(got["closed_accuracy"], 4), "blank_closed_accuracy": round(blank["closed_accuracy"], 4),
            "open_recall": round(got["open_recall"], 4), "blank_open_recall": round(blank["open_recall"], 4),
            "n_closed": got["n_closed"], "families": families, "eval_seconds": round(time.perf_counter() - t, 1)}


def summary_of(run: Path) -> dict:
    """A finished run's steps, last logged loss, runtime and samples/s."""
    state = json.loads((run / "log_history.json").read_text())
    logged = [h for h in state if "loss" in h]
    metrics = json.loads((run / "model" / "train_metrics.json").read_text())
    return {"steps": state[-1].get("step"), "last_logged_loss": round(logged[-1]["loss"], 4) if logged else None,
            **{k: metrics[k] for k in ("train_runtime", "train_samples_per_second") if k in metrics}}


def add_common_args(ap, out: str, minutes: float) -> None:
    """The flags every equal-time VQA benchmark has: run folder, minutes, seeds, unseen seed, questions."""
    ap.add_argument("--out", type=Path, default=Path(out))
    ap.add_argument("--minutes", type=float, default=minutes)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--unseen-seed", type=int, default=777)
    ap.add_argument("--limit", type=int, default=600, help="test questions scored (the first ones; blank too)")


def equal_time(args, train_arm) -> None:
    """Make the demo's 2,000 MedSynth x-ray cases (seed 0) and an unseen set once, then for every seed and
    arm: `train_arm(arm, seed, data, run) -> wall seconds`, the run's summary and its VQA scores, written to
    `<out>/summary.json` after each arm (a later call adds to it)."""
    from medmllm.synth import synthesize

    t0, data, unseen = time.perf_counter(), args.out / "data", args.out / f"unseen{args.unseen_seed}"
    for folder, seed in ((data, 0), (unseen, args.unseen_seed)):
        if not (folder / "xray_vqa_test.jsonl").is_file():
            synthesize(folder, ["xray"], n=2000, seed=seed)
    summary_path = args.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    summary["minutes_each"] = args.minutes
    for seed in args.seeds:
        for arm in args.arms:
            run = args.out / f"seed{seed}" / arm
            wall = train_arm(arm, seed, data, run)
            summary[f"seed{seed}_{arm}"] = {"train_wall_seconds": round(wall, 1), **summary_of(run),
                                            **vqa_scores(run / "model", unseen, run.parent / f"eval_{arm}", args.limit)}
            summary_path.write_text(json.dumps(summary, indent=2))
    summary["total_wall_seconds"] = round(time.perf_counter() - t0, 1)
    summary_path.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
