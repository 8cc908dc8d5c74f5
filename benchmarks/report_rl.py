"""Report generation with the clinical-label reward: GRPO on `report_labels` against continued SFT
at equal CPU time, from one start model, on the MedSynth chest X-ray reports.

1. the start model's scores on the x-ray report test split (`medsynth-xray-report`: CheXpert-label
   F1 over the 14 labels, micro and macro, our rule-based labeler; BLEU-4; CIDEr-D);
2. GRPO (`demo_grpo.yaml`, no `<think>`, reward `report_labels`: agreement of the 14 CheXpert
   labels of the sampled report and the reference) and continued SFT (`demo_sft.yaml`, lr 1e-4, no
   warm-up) on the same `xray_report_train.jsonl`, each for `--minutes` of training wall time,
   saving checkpoints along the way;
3. the same scores for every checkpoint (greedy).

    .venv/bin/python benchmarks/report_rl.py --model runs/demo/model --data runs/demo/data --minutes 6 --seeds 0 1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _arms import checkpoints, step_of, train  # noqa: E402

SCORES = ("chexpert_f1_14_micro", "chexpert_f1_14_macro", "chexpert_f1_5_micro", "bleu4", "ciderD")
ARMS = {
    "grpo": ("medmllm/configs/demo_grpo.yaml",
             ["train.grpo.think=false", "train.grpo.max_new_tokens=128", "train.grpo.rewards={report_labels: 1.0}"]),
    "sft": ("medmllm/configs/demo_sft.yaml", ["train.learning_rate=1e-4", "train.warmup_ratio=0",
                                               "train.processes=1", "train.batch_size=16"]),
}


def scores(model: Path, data: Path, out: Path) -> dict:
    """The report test split's scores (greedy, 160 new tokens)."""
    from medmllm.eval.backends import BACKENDS
    from medmllm.eval.evaluate import Decoding, run
    from medmllm.eval.tasks import resolve

    t = time.perf_counter()
    task = resolve("medsynth-xray-report", data)
    results = run(BACKENDS.get("local")(model, batch_size=32), [task], out, blank=False,
                  decoding=Decoding(max_new_tokens=160))
    got = next(iter(results["tasks"].values()))["scores"]
    return {**{k: round(got[k], 4) for k in SCORES}, "eval_seconds": round(time.perf_counter() - t, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=Path("runs/demo/model"))
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--out", type=Path, default=Path("runs/report_rl"))
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--save-steps", type=int, nargs=2, default=[300, 40], metavar=("SFT", "GRPO"),
                    help="checkpoint every this many steps (SFT makes several times the steps of GRPO per minute)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="train.seed of both arms, one pair per seed")
    ap.add_argument("--grpo", nargs="*", default=[], help="extra key=value overrides for the GRPO arm")
    ap.add_argument("--arms", nargs="*", default=list(ARMS), choices=list(ARMS))
    args = ap.parse_args()
    t0 = time.perf_counter()
    summary: dict = {"minutes_each": args.minutes, "grpo_overrides": args.grpo,
                     "start": scores(args.model, args.data, args.out / "eval_start")}
    for seed in args.seeds:
        for name in args.arms:
            config, extra = ARMS[name]
            run = args.out / f"seed{seed}" / name
            wall = train(config, args.model, [args.data / "xray_report_train.jsonl"], run, args.minutes,
                         [f"train.save_steps={args.save_steps[name == 'grpo']}", f"train.seed={seed}", *extra,
                          *(args.grpo if name == "grpo" else [])])
            curve = [{"checkpoint": c.name, "step": step_of(c), **scores(c, args.data, run.parent / f"eval_{name}_{c.name}")}
                     for c in checkpoints(run)]
            summary[f"seed{seed}_{name}"] = {"train_wall_seconds": round(wall, 1), "curve": curve, "final": curve[-1]}
            (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    summary["total_wall_seconds"] = round(time.perf_counter() - t0, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
