"""At what model or data size does GRPO beat answers-only SFT? `reasoning.py`'s protocol at larger
start models, and the gap on the held-out families and ECG together read off every point and seed.

Points (each its own `reasoning.py` run under `--out`, reused when finished):
- `base`: the protocol as recorded (`--base`, a run of `reasoning.py --out runs/reasoning`; only the
  evaluations it lacks are made);
- `wide`: the decoder twice as wide (hidden 256, MLP 768, 4 heads; 3 layers as before);
- `data2x`: twice the data (4,000 x-ray and 2,000 ECG cases) for the start model and both arms.

    .venv/bin/python benchmarks/reasoning_scale.py --out runs/reasoning_scale --base runs/reasoning --minutes 6 --seeds 0 1
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from medmllm.files import atomic_write

POINTS = {
    "base": [],
    "wide": ["--n", "2000", "--n-ecg", "1000", "--model-set", "model.llm.config.hidden_size=256",
             "model.llm.config.intermediate_size=768"],
    "data2x": ["--n", "4000", "--n-ecg", "2000"],
}
HELD = ("b_held_out_families", "c_ecg")


def parameters(model: Path) -> dict:
    """Parameter counts of a saved MedMLLM: all, and the decoder's."""
    from safetensors import safe_open

    with safe_open(str(model / "model.safetensors"), "pt") as f:
        sizes = {key: math.prod(f.get_slice(key).get_shape()) for key in f.keys()}
    return {"all": sum(sizes.values()), "llm": sum(n for key, n in sizes.items() if key.startswith("llm."))}


def together(tests: dict) -> float:
    """Accuracy over (b) and (c) pooled, weighted by their sizes."""
    n = sum(tests[k]["n"] for k in HELD)
    return round(sum(tests[k]["accuracy"] * tests[k]["n"] for k in HELD) / n, 4)


def row(name: str, run: Path, seeds: list[int]) -> dict:
    """One point's figures: sizes, and per seed start / SFT / GRPO on (a) and on (b)+(c), with the
    `<think>` prefill and without."""
    s = json.loads((run / "summary.json").read_text())
    out = {"point": name, "n": s.get("n", 2000), "parameters": parameters(run / "start" / "sft" / "model"),
           "start_seconds": {k: s["start_model"].get(k) for k in ("align_seconds", "sft_seconds")}}
    for mode in ("prefill", "no_prefill"):
        pick = (lambda arm: arm["final"]["test"]) if mode == "prefill" else (lambda arm: arm["no_prefill"])
        start = s["start_model"]["test" if mode == "prefill" else "no_prefill"]
        out[mode] = {"start": {"a": start["a_train_families"]["accuracy"], "bc": together(start)}}
        for seed in seeds:
            sft, grpo = pick(s[f"seed{seed}_sft"]), pick(s[f"seed{seed}_grpo"])
            out[mode][seed] = {"a": [sft["a_train_families"]["accuracy"], grpo["a_train_families"]["accuracy"]],
                               "bc": [together(sft), together(grpo)],
                               "gap_a_points": round(100 * (grpo["a_train_families"]["accuracy"]
                                                            - sft["a_train_families"]["accuracy"]), 1),
                               "gap_bc_points": round(100 * (together(grpo) - together(sft)), 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/reasoning_scale"))
    ap.add_argument("--base", type=Path, default=Path("runs/reasoning"), help="a finished reasoning.py run")
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--points", nargs="+", default=list(POINTS)[1:], choices=list(POINTS)[1:])
    args = ap.parse_args()
    runs = {name: args.out / name for name in args.points} | {"base": args.base}
    for name, run in runs.items():
        subprocess.run([sys.executable, str(Path(__file__).parent / "reasoning.py"), "--out", str(run),
                        "--minutes", str(args.minutes), "--seeds", *map(str, args.seeds), *POINTS[name]], check=True)
    rows = [row(name, runs[name], args.seeds) for name in POINTS if name in runs]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "scale.json", json.dumps(rows, indent=2))
    per_seed = lambda r, mode, k, i: " / ".join(f"{r[mode][s][k][i]:.3f}" for s in args.seeds)  # noqa: E731
    gaps = lambda r, mode: " / ".join(f"{r[mode][s]['gap_bc_points']:+.1f}" for s in args.seeds)  # noqa: E731
    print("| point | x-ray cases | decoder / all params | (a) start; SFT; GRPO | (b)+(c) start; SFT; GRPO | "
          "GRPO − SFT on (b)+(c), points | same, no prefill |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["prefill"]
        print(f"| {r['point']} | {r['n']} | {r['parameters']['llm'] / 1e6:.2f} M / {r['parameters']['all'] / 1e6:.2f} M | "
              f"{p['start']['a']:.3f}; {per_seed(r, 'prefill', 'a', 0)}; {per_seed(r, 'prefill', 'a', 1)} | "
              f"{p['start']['bc']:.3f}; {per_seed(r, 'prefill', 'bc', 0)}; {per_seed(r, 'prefill', 'bc', 1)} | "
              f"{gaps(r, 'prefill')} | {gaps(r, 'no_prefill')} |")


if __name__ == "__main__":
    main()
