"""The GRPO loss variants side by side: the same start model, prompts, seed and number of steps.

For each variant (`train.grpo` switches, `medmllm/recipes/grpo.py`): GRPO from the demo's model on
the MedSynth x-ray reasoning prompts (`demo_grpo.yaml`) for `--steps` steps, then the reasoning test
split's accuracy (greedy, `<think>` prefilled; `answer_match` = 1, as `reasoning.py` scores it), and
the rollout statistics of the run (`grpo_log.jsonl`): mean reward over the last half, the share of
groups whose rewards all tie (no gradient), completion length, clip fraction, KL, seconds per step.

    .venv/bin/python benchmarks/rl_variants.py --model runs/demo/model --data runs/demo/data --steps 80
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from reasoning import accuracy  # noqa: E402

VARIANTS = {
    "grpo": [],  # DeepSeekMath: per-sequence mean, group std, beta 0.04
    "dr_grpo": ["train.grpo.loss_type=dr_grpo", "train.grpo.scale_rewards=none", "train.grpo.beta=0"],
    "dapo": ["train.grpo.loss_type=dapo", "train.grpo.epsilon_high=0.28", "train.grpo.dynamic_sampling=true",
             "train.grpo.beta=0"],
    "grpo_it2": ["train.grpo.iterations=2"],
    "gspo_it2": ["train.grpo.iterations=2", "train.grpo.importance_sampling_level=sequence",
                 "train.grpo.epsilon=3e-4", "train.grpo.epsilon_high=4e-4"],
}


def run(name: str, extra: list[str], args) -> dict:
    out = args.out / name
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "medmllm.cli", "train", "medmllm/configs/demo_grpo.yaml",
                    f"train.init_from={args.model}", f"data.train=[{args.data / 'xray_reason_train.jsonl'}]",
                    f"train.output_dir={out}", f"train.max_steps={args.steps}", f"train.save_steps={10 * args.steps}",
                    f"train.seed={args.seed}", *extra], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    log = [json.loads(line) for line in (out / "grpo_log.jsonl").read_text().splitlines()]
    late = log[len(log) // 2:]
    mean = lambda key, rows=late: round(sum(r.get(key, 0.0) for r in rows) / len(rows), 4)  # noqa: E731
    tied = [r["reward_std"] == 0 for r in log]
    return {"overrides": extra, "train_wall_seconds": round(wall, 1), "seconds_per_step": round(wall / args.steps, 2),
            "reward_last_half": mean("reward"), "well_formed_last_half": mean("well_formed"),
            "completion_length": mean("completion_length"), "clip_fraction": mean("clip_fraction", log),
            "kl_last_half": mean("kl"), "steps_with_every_group_tied": sum(tied),
            "groups_kept": mean("groups_kept", log) if "groups_kept" in log[0] else None,
            "test": accuracy(out / "model", args.data / "xray_reason_test.jsonl", args.out / f"eval_{name}")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=Path("runs/demo/model"))
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--out", type=Path, default=Path("runs/rl_variants"))
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()
    summary = {"steps": args.steps, "seed": args.seed, "start": accuracy(args.model, args.data / "xray_reason_test.jsonl", args.out / "eval_start")}
    for name in args.only:
        summary[name] = run(name, VARIANTS[name], args)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
        print(name, json.dumps({k: v for k, v in summary[name].items() if k != "test"}), summary[name]["test"]["accuracy"])
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
