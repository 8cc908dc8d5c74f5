"""`medmllm demo`: the whole pipeline on a laptop, on MedSynth chest X-rays with a tiny model.

synth -> align (reports) -> sft (questions + reasoning) -> eval (real vs blank images) ->
three sample answers. Everything goes to the run folder: `data/`, `align/`, `sft/`, the final
`model/`, `results.json`, `results.md`, `predictions.jsonl` and `loss.png`.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .config import load_config
from .files import atomic_folder, atomic_path, atomic_write
from .synth import synthesize

CONFIGS = Path(__file__).parent / "configs"


@dataclass
class DemoSize:
    cases: int
    """X-ray cases generated (train/val/test 80/10/10)."""
    align_epochs: float
    sft_epochs: float
    eval_limit: int | None
    """Records per test manifest evaluated (None: all)."""
    processes: int | None
    """Training processes (None: the configs' `train.processes`); the global batch is kept."""
    minutes: float | None
    """Wall-time budget of the whole demo (None: none). The SFT stage gets what synth and align leave,
    less `RESERVE` seconds, as `train.max_minutes`: its cosine schedule then ends on the clock, and it
    stops at `sft_epochs` if that comes first (`benchmarks/demo.md`)."""


RESERVE = 100.0
"""Seconds kept back from the SFT budget: its start (processes, data packing), the save and the evaluation."""
FULL = DemoSize(cases=2000, align_epochs=2, sft_epochs=4, eval_limit=None, processes=None, minutes=10)
QUICK = DemoSize(cases=160, align_epochs=1, sft_epochs=1, eval_limit=24, processes=1, minutes=None)


def run_demo(out: str | Path, quick: bool = False, seed: int = 0) -> dict:
    from .engine import load
    from .eval.evaluate import evaluate
    from .recipes import run

    out, size, t0 = Path(out), QUICK if quick else FULL, time.perf_counter()
    data = out / "data"
    print(f"[1/5] MedSynth: {size.cases} chest X-ray cases -> {data}")
    synthesize(data, ["xray"], n=size.cases, seed=0, progress=True)

    print("[2/5] align: reports; a tiny ResNet encoder + MLP connector + tiny Llama, from scratch")
    align = load_config(CONFIGS / "demo_align.yaml")
    align.data.train = [str(data / "xray_report_train.jsonl")]
    align.train.output_dir, align.train.epochs, align.train.seed = str(out / "align"), size.align_epochs, seed
    run(_processes(align, size.processes))

    print("[3/5] sft: closed/open questions, worked reasoning and reports")
    sft = load_config(CONFIGS / "demo_sft.yaml")
    sft.data.train = [str(data / f"xray_{task}_train.jsonl") for task in ("vqa", "reason", "report")]
    sft.train.init_from, sft.train.output_dir = str(out / "align" / "model"), str(out / "sft")
    sft.train.epochs, sft.train.seed = size.sft_epochs, seed
    if size.minutes:
        left = size.minutes * 60 - (time.perf_counter() - t0) - RESERVE
        sft.train.max_minutes = max(left, 60.0) / 60
        print(f"      at most {sft.train.epochs:g} epochs in {sft.train.max_minutes * 60:.0f} s of training "
              f"(the demo's {size.minutes:g} minutes, less what came before and {RESERVE:.0f} s for the rest)")
    sft_metrics = run(_processes(sft, size.processes))
    _publish(out / "sft" / "model", out / "model")
    _loss_figure(out)

    print("[4/5] eval on the test split, real images vs blank images")
    engine = load(out / "model")
    tests = [data / "xray_vqa_test.jsonl", data / "xray_report_test.jsonl", data / "xray_reason_test.jsonl"]
    results = evaluate(engine, tests, out, limit=size.eval_limit, model_name=str(out / "model"))
    results["demo"] = {"quick": quick, "cases": size.cases, "seed": seed,
                       "sft_epochs": round(sft_metrics.get("epoch", 0), 2),
                       "sft_seconds": round(sft_metrics.get("train_runtime", 0), 1),
                       "wall_seconds": round(time.perf_counter() - t0, 1)}
    atomic_write(out / "results.json", json.dumps(results, indent=2))

    print("[5/5] sample answers")
    print(_samples_table(out / "predictions.jsonl"))
    print((out / "results.md").read_text())
    vqa = results["tasks"]["xray_vqa_test"]
    print(f"closed-question accuracy {vqa['scores'].get('closed_accuracy', float('nan')):.3f} "
          f"(blank images {vqa['blank_scores'].get('closed_accuracy', float('nan')):.3f}); "
          f"{results['demo']['wall_seconds']:.0f} s in all; everything is in {out}/")
    return results


def _processes(cfg, n: int | None):
    """`cfg` trained in `n` processes (None: as it says), with the same global batch."""
    if n is not None and n != cfg.train.processes:
        cfg.train.batch_size = cfg.train.batch_size * cfg.train.processes // n
        cfg.train.processes = n
    return cfg


def _publish(src: Path, dst: Path) -> None:
    """Copy the final model into place under a temporary name, then rename."""
    with atomic_folder(dst) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)


def _loss_figure(out: Path) -> None:
    """Both stages' loss curves side by side in `loss.png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, stage in zip(axes, ("align", "sft")):
        history = json.loads((out / stage / "log_history.json").read_text())
        points = [(h["step"], h["loss"]) for h in history if "loss" in h]
        if points:
            ax.plot(*zip(*points))
        ax.set_title(f"{stage} loss"), ax.set_xlabel("step"), ax.grid(alpha=0.3)
    with atomic_path(out / "loss.png") as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _samples_table(predictions: Path) -> str:
    """One closed question, one open question and one report: question, reference, answer."""
    rows, seen = [], set()
    for line in predictions.read_text().splitlines():
        it = json.loads(line)
        if it["answer_type"] not in seen:
            seen.add(it["answer_type"])
            q = it["question"].replace("<image>", "").strip().replace("\n", " ")
            rows.append(f"| {q[:60]} | {_short(it['ref'])} | {_short(it['pred'])} |")
    return "\n".join(["| question | reference | model answer |", "|---|---|---|", *rows[:3]])


def _short(text: str, n: int = 90) -> str:
    text = text.replace("\n", " ").replace("|", "/")
    return text if len(text) <= n else text[: n - 1] + "…"
