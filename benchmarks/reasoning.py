"""Reasoning measured the field's way (MedVLM-R1, MedVLThinker): GRPO against continued SFT on answers
only, from a model tuned on answers only, on the training question families, on held-out families
and on another modality.

1. Data: MedSynth x-ray (`--n` cases) and ECG (`--n-ecg` cases), seed 0.
2. The start model, made once: align on both modalities' reports, then SFT on **answers only**: the
   x-ray and ECG questions, both modalities' reports, and the x-ray reasoning questions of the
   training families with the rationale removed. The target of a reasoning question is
   `<think></think><answer>X</answer>`: the tags without a rationale. (MedVLM-R1's base model learns
   the tag format from an instruction in the prompt; a model trained from scratch follows none.)
3. Per seed, two arms from it, each for `--minutes` of training wall time: continued answers-only SFT
   on the training families' reasoning questions, and GRPO on the same prompts, `<think>` prefilled,
   rewards `format` (exactly `<think>…</think><answer>…</answer>`, both blocks non-empty) and
   `answer_match`. Neither arm sees a rationale.
4. Every checkpoint on three tests (greedy, `<think>` prefilled, correct when `answer_match` is 1):
   (a) the x-ray reasoning test split, training families; (b) the same split's held-out families,
   which neither the start model nor the arms trained on: `ctr_value` (measuring) and
   `nodules_left_gt_right` (counting); (c) the ECG reasoning test split (another modality, its own
   encoder; ECG reasoning was never trained, ECG questions were). The start and final models also
   without the prefill (the question alone).

A second call with the same `--out` trains nothing that is there and generates no answer it has
cached: it adds seeds or evaluations a run lacks. `--model-set` changes the start model's size
(`reasoning_scale.py`).

    .venv/bin/python benchmarks/reasoning.py --out runs/reasoning --minutes 6 --seeds 0 1
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from medmllm.files import atomic_write

sys.path.insert(0, str(Path(__file__).parent))
from _arms import checkpoints, step_of, train  # noqa: E402

TRAIN_FAMILIES = ("ctr_above_0.5", "nodule_gt_20mm")
HELD_OUT = ("ctr_value", "nodules_left_gt_right")
ONE_PROCESS = ("train.processes=1", "train.batch_size=16")  # as recorded (the demo configs now train in 2)
ECG = {"name": "vit1d", "params": {"leads": 12, "samples": 5000, "patch_size": 100, "hidden_size": 64,
                                   "mlp_dim": 128, "num_layers": 2}}
ARMS = {
    "sft": ("medmllm/configs/demo_sft.yaml", ["train.learning_rate=1e-4", "train.warmup_ratio=0",
                                               "train.processes=1", "train.batch_size=16"]),
    "grpo": ("medmllm/configs/demo_grpo.yaml", ["train.grpo.rewards={format: 0.2, answer_match: 0.8}"]),
}


def verdict(pred: str, ref: str) -> tuple[bool, bool]:
    """(correct, well formed) of one answer: `answer_match` (closed_match for yes/no, numeric for
    numbers, open_match for text) is 1, and `format` is 1."""
    import medmllm.rewards as R

    return R.get("answer_match")(pred, ref) >= 0.999, R.get("format")(pred, ref) >= 0.999


def accuracy(model: Path, manifest: Path, out: Path, samples: int = 1, limit: int | None = None,
             think: bool = True) -> dict:
    """Accuracy and well-formed rate of `model` on a reasoning manifest (greedy, `<think>` prefilled
    unless `think` is False, 128 new tokens; `samples` > 1: self-consistency at T 0.7), overall and per
    question family. Answers are cached in `out`, so a rerun scores without generating."""
    from medmllm.eval.backends import BACKENDS
    from medmllm.eval.evaluate import Decoding, run
    from medmllm.eval.tasks import resolve

    modality = "ecg" if manifest.name.startswith("ecg") else "xray"
    task = resolve(f"medsynth-{modality}-reason={manifest}", None)
    t = time.perf_counter()
    run(BACKENDS.get("local")(model, batch_size=32), [task], out, blank=False, limit=limit,
        decoding=Decoding(think=think, samples=samples, temperature=0.7, max_new_tokens=128))
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    marks = [verdict(p["pred"], p["ref"]) for p in preds]
    by_type: dict[str, list[bool]] = {}
    for p, (correct, _) in zip(preds, marks):
        by_type.setdefault(p["category"], []).append(correct)
    return {"n": len(marks), "accuracy": round(sum(c for c, _ in marks) / len(marks), 4),
            "well_formed": round(sum(f for _, f in marks) / len(marks), 4),
            "eval_seconds": round(time.perf_counter() - t, 1),
            "by_question_type": {k: {"n": len(v), "accuracy": round(sum(v) / len(v), 3)} for k, v in sorted(by_type.items())}}


def subset(src: Path, dst: Path, families: tuple[str, ...], answers_only: bool = False) -> Path:
    """`src`'s records of `families`; with `answers_only` each answer turn is reduced to
    `<think></think><answer>X</answer>` (else unchanged: test sets keep their worked references)."""
    rows = []
    for line in src.read_text().splitlines():
        rec = json.loads(line)
        if rec["meta"]["question_type"] not in families:
            continue
        if answers_only:
            rec["conversations"][-1]["value"] = f"<think></think><answer>{rec['meta']['answer']}</answer>"
            rec["meta"].pop("rationale", None)
            line = json.dumps(rec)
        rows.append(line)
    dst.write_text("\n".join(rows) + "\n")
    return dst


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "medmllm.cli", *args], check=True, stdout=subprocess.DEVNULL)


def start_model(out: Path, n: int, n_ecg: int, model_set: list[str]) -> tuple[Path, dict[str, Path], dict]:
    """MedSynth data, the answers-only manifests and tests, and the start model (reused when present);
    `model_set`: overrides of the demo model (`model.llm.config.hidden_size=256`), given to align."""
    data = out / "data"
    if not (data / "ecg" / "ecg_reason_test.jsonl").exists():
        cli("synth", "--out", str(data / "xray"), "--modalities", "xray", "--n", str(n), "--seed", "0")
        cli("synth", "--out", str(data / "ecg"), "--modalities", "ecg", "--n", str(n_ecg), "--seed", "0")
    x, e = data / "xray", data / "ecg"
    reason_train = subset(x / "xray_reason_train.jsonl", x / "answers_reason_train.jsonl", TRAIN_FAMILIES,
                          answers_only=True)
    tests = {"a_train_families": subset(x / "xray_reason_test.jsonl", x / "test_a.jsonl", TRAIN_FAMILIES),
             "b_held_out_families": subset(x / "xray_reason_test.jsonl", x / "test_b.jsonl", HELD_OUT),
             "c_ecg": e / "ecg_reason_test.jsonl"}
    model, times = out / "start" / "sft" / "model", {}
    if not model.exists():
        reports = [x / "xray_report_train.jsonl", e / "ecg_report_train.jsonl"]
        encoders = [f"model.encoders.ecg={json.dumps(ECG)}", "model.connectors.ecg={name: mlp2x_gelu}"]
        if not (out / "start" / "align" / "model").exists():  # an interrupted run keeps its align stage
            t = time.perf_counter()
            cli("train", "medmllm/configs/demo_align.yaml", f"data.train=[{','.join(map(str, reports))}]", *encoders,
                f"train.output_dir={out / 'start' / 'align'}", "train.epochs=2", *ONE_PROCESS, *model_set)
            times["align_seconds"] = round(time.perf_counter() - t, 1)
        sft = [x / "xray_vqa_train.jsonl", e / "ecg_vqa_train.jsonl", reason_train, *reports]
        t = time.perf_counter()
        cli("train", "medmllm/configs/demo_sft.yaml", f"data.train=[{','.join(map(str, sft))}]",
            f"train.init_from={out / 'start' / 'align' / 'model'}", f"train.output_dir={out / 'start' / 'sft'}",
            "train.epochs=3", *ONE_PROCESS)
        times["sft_seconds"] = round(time.perf_counter() - t, 1)
    return model, {"reason_train": reason_train, **tests}, times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/reasoning"))
    ap.add_argument("--n", type=int, default=2000, help="MedSynth x-ray cases")
    ap.add_argument("--n-ecg", type=int, default=1000, help="MedSynth ECG cases")
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--save-steps", type=int, nargs=2, default=[300, 80], metavar=("SFT", "GRPO"),
                    help="checkpoint every this many steps (SFT makes ~4x the steps of GRPO per minute)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="train.seed of both arms, one pair per seed")
    ap.add_argument("--limit", type=int, default=240, help="records per test set (the first ones)")
    ap.add_argument("--model-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="overrides of the start model, e.g. model.llm.config.hidden_size=256 (the scale study)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    start, sets, times = start_model(args.out, args.n, args.n_ecg, args.model_set)
    tests = {k: v for k, v in sets.items() if k != "reason_train"}
    evaluate = lambda model, where, think=True: {  # noqa: E731
        k: accuracy(model, m, where / (k if think else f"{k}_no_prefill"), limit=args.limit, think=think)
        for k, m in tests.items()}
    old = json.loads((args.out / "summary.json").read_text()) if (args.out / "summary.json").exists() else {}
    summary: dict = {**old, "minutes_each": args.minutes, "n": args.n, "model_set": args.model_set,
                     "start_model": {**old.get("start_model", {}), **times,
                                     "test": evaluate(start, args.out / "eval_start"),
                                     "no_prefill": evaluate(start, args.out / "eval_start", think=False)}}
    for seed in args.seeds:
        for name, (config, extra) in ARMS.items():
            run, key = args.out / f"seed{seed}" / name, f"seed{seed}_{name}"
            if (run / "model").exists() and key in old:  # a rerun scores what is there
                wall = old[key]["train_wall_seconds"]
            else:
                wall = train(config, start, [sets["reason_train"]], run, args.minutes,
                             [f"train.save_steps={args.save_steps[name == 'grpo']}", f"train.seed={seed}", *extra])
            curve = [{"checkpoint": c.name, "step": step_of(c), "test": evaluate(c, run.parent / f"eval_{name}_{c.name}")}
                     for c in checkpoints(run)]
            summary[key] = {"train_wall_seconds": round(wall, 1), "curve": curve, "final": curve[-1],
                            "no_prefill": evaluate(run / "model", run.parent / f"eval_{name}_model", think=False)}
            atomic_write(args.out / "summary.json", json.dumps(summary, indent=2))
    summary["total_wall_seconds"] = round(time.perf_counter() - t0 + old.get("total_wall_seconds", 0), 1)  # all calls
    atomic_write(args.out / "summary.json", json.dumps(summary, indent=2))
    plot(args.out, summary, sorted({int(k[4:].split("_")[0]) for k in summary if k.startswith("seed")}))
    print(json.dumps({k: v.get("final", v) if isinstance(v, dict) else v for k, v in summary.items()}, indent=2))


def plot(out: Path, summary: dict, seeds: list[int]) -> None:
    """reasoning.png: accuracy of each test against training minutes, both arms, every seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = list(summary["start_model"]["test"])
    fig, axes = plt.subplots(1, len(tests), figsize=(4.6 * len(tests), 3.6))
    for ax, test in zip(axes, tests):
        for seed in seeds:
            for name, color in (("sft", "tab:blue"), ("grpo", "tab:orange")):
                curve = summary[f"seed{seed}_{name}"]["curve"]
                last = max((p["step"] or 0) for p in curve) or 1
                xs = [0.0] + [((p["step"] or last) / last) * summary["minutes_each"] for p in curve]
                ys = [summary["start_model"]["test"][test]["accuracy"]] + [p["test"][test]["accuracy"] for p in curve]
                ax.plot(xs, ys, marker="o", color=color, linestyle="-" if seed == seeds[0] else "--",
                        label=f"{name}, seed {seed}")
        ax.set_title(test.replace("_", " ")), ax.set_xlabel("training minutes"), ax.set_ylim(0, 1)
    axes[0].set_ylabel("accuracy (greedy, <think>)"), axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "reasoning.png", dpi=90)


if __name__ == "__main__":
    main()
