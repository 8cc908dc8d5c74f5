"""GRPO vs continued SFT at equal CPU time, from one SFT checkpoint, on MedSynth reasoning questions.

1. accuracy of the start model (the demo's `runs/demo/model`) on the x-ray reasoning test split;
2. GRPO (`medmllm/configs/demo_grpo.yaml`) and continued SFT (`demo_sft.yaml`, same data) for the
   same wall-clock budget (`train.max_minutes`), each saving checkpoints along the way;
3. accuracy and well-formed rate of every checkpoint (greedy, `<think>` prefilled), and
   self-consistency (5 samples, majority vote) on top of the final GRPO model.

An answer is correct when its verifiable reward `answer_match` is 1: `closed_match` for yes/no
references, `numeric` (5% / 0.02 tolerance, counts exact) for numbers, `open_match` for the rest.

    .venv/bin/python benchmarks/reasoning.py --minutes 6 --out runs/reasoning
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _arms import checkpoints, step_of, train


def verdict(pred: str, ref: str) -> tuple[bool, bool]:
    """(correct, well formed) of one answer: `answer_match` (closed_match for yes/no, numeric for
    numbers, open_match for text) is 1, and `format` is 1."""
    import medmllm.rewards as R

    return R.get("answer_match")(pred, ref) >= 0.999, R.get("format")(pred, ref) >= 0.999


def accuracy(model: Path, data: Path, out: Path, samples: int = 1) -> dict:
    from medmllm.eval.backends import BACKENDS
    from medmllm.eval.evaluate import Decoding, run
    from medmllm.eval.tasks import resolve

    task = resolve("medsynth-xray-reason", data)
    t = time.perf_counter()
    run(BACKENDS.get("local")(model, batch_size=32), [task], out, blank=False,
        decoding=Decoding(think=True, samples=samples, temperature=0.7, max_new_tokens=128))
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    marks = [verdict(p["pred"], p["ref"]) for p in preds]
    by_type: dict[str, list[bool]] = {}
    for p, (correct, _) in zip(preds, marks):
        by_type.setdefault(p["category"], []).append(correct)
    return {"n": len(marks), "accuracy": sum(c for c, _ in marks) / len(marks),
            "well_formed": sum(f for _, f in marks) / len(marks), "eval_seconds": round(time.perf_counter() - t, 1),
            "by_question_type": {k: {"n": len(v), "accuracy": round(sum(v) / len(v), 3)} for k, v in sorted(by_type.items())}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=Path("runs/demo/model"))
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--out", type=Path, default=Path("runs/reasoning"))
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--save-steps", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0, help="train.seed of both runs (data order, sampling; the configs' default is 0)")
    ap.add_argument("--grpo", nargs="*", default=[], help="extra key=value overrides for the GRPO run")
    ap.add_argument("--skip-sft", action="store_true", help="only the GRPO run (e.g. when trying GRPO settings)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    summary: dict = {"minutes_each": args.minutes, "seed": args.seed, "grpo_overrides": args.grpo, "start": accuracy(args.model, args.data, args.out / "eval_start")}
    runs = {"grpo": ("medmllm/configs/demo_grpo.yaml", list(args.grpo)),
            "sft": ("medmllm/configs/demo_sft.yaml", ["train.learning_rate=1e-4", "train.warmup_ratio=0"])}
    if args.skip_sft:
        del runs["sft"]
    for name, (config, extra) in runs.items():
        wall = train(config, args.model, [args.data / "xray_reason_train.jsonl"], args.out / name, args.minutes,
                     [f"train.save_steps={args.save_steps}", f"train.seed={args.seed}", *extra])
        curve = []
        for ckpt in checkpoints(args.out / name):
            step = step_of(ckpt)
            curve.append({"checkpoint": ckpt.name, "step": step,
                          **accuracy(ckpt, args.data, args.out / f"eval_{name}_{ckpt.name}")})
        summary[name] = {"train_wall_seconds": round(wall, 1), "curve": curve, "final": curve[-1]}
    summary["grpo_self_consistency_5"] = accuracy(args.out / "grpo" / "model", args.data, args.out / "eval_grpo_sc5",
                                                  samples=5)
    summary["total_wall_seconds"] = round(time.perf_counter() - t0, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(args.out, summary)
    print(json.dumps(summary, indent=2))


def plot(out: Path, summary: dict) -> None:
    """reasoning.png: GRPO's mean reward, well-formed rate and KL per step (50-step means), and test
    accuracy against wall-clock share for both runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (out / "grpo" / "grpo_log.jsonl").read_text().splitlines()]
    smooth = lambda key: [sum(r[key] for r in rows[max(0, i - 49):i + 1]) / len(rows[max(0, i - 49):i + 1])  # noqa: E731
                          for i in range(len(rows))]
    steps = [r["step"] for r in rows]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 3.6))
    a.plot(steps, smooth("reward"), label="mean reward")
    a.plot(steps, smooth("well_formed"), label="well-formed (sampled)")
    a.set_xlabel("GRPO step"), a.legend(fontsize=8), a.set_title("GRPO rollouts (50-step mean)")
    b.plot(steps, smooth("kl"), color="tab:red"), b.set_xlabel("GRPO step"), b.set_title("KL to the start model")
    for name in ("grpo", "sft"):
        if name in summary:
            curve = summary[name]["curve"]
            last = max((p["step"] or 0) for p in curve) or 1
            xs = [0.0] + [((p["step"] or last) / last) * summary["minutes_each"] for p in curve]
            c.plot(xs, [summary["start"]["accuracy"]] + [p["accuracy"] for p in curve], marker="o", label=name)
    c.set_xlabel("training minutes"), c.set_title("test accuracy (greedy, <think>)"), c.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "reasoning.png", dpi=90)


if __name__ == "__main__":
    main()
