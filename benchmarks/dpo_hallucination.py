"""Does DPO lower hallucinated findings in MedSynth x-ray reports? SFT start vs DPO, same test cases.

1. MedSynth preference pairs for the demo data (`write_preferences`: the rejected report adds an
   absent finding or names the wrong side);
2. reports for the x-ray report test split from the SFT model (the demo's `runs/demo/model`);
3. DPO from that model (`medmllm/configs/demo_dpo.yaml`), then reports from the DPO model;
4. hallucination and wrong-side rates of both (`medmllm.eval.hallucination`), and BLEU-4 /
   CheXpert F1 so a gain in faithfulness is not bought with worse reports.

    .venv/bin/python benchmarks/dpo_hallucination.py --model runs/demo/model --data runs/demo/data --out runs/dpo_exp
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def reports(model: Path, data: Path, out: Path) -> tuple[dict, list[dict]]:
    from medmllm.eval.backends import BACKENDS
    from medmllm.eval.evaluate import run
    from medmllm.eval.tasks import resolve

    task = resolve("medsynth-xray-report", data)
    results = run(BACKENDS.get("local")(model, batch_size=32), [task], out, blank=False)
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return results["tasks"]["medsynth-xray-report"]["scores"], preds


def rates(preds: list[dict], data: Path) -> dict:
    from medmllm.eval.hallucination import hallucination_rate

    findings = {}
    for line in (data / "xray_report_test.jsonl").read_text().splitlines():
        rec = json.loads(line)
        findings[rec["id"]] = rec["meta"]["findings"]
    r = hallucination_rate([p["pred"] for p in preds], [findings[p["id"]] for p in preds])
    return {k: r[k] for k in ("hallucination_rate", "reports_with_hallucination", "wrong_side_rate", "per_finding")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=Path("runs/demo/model"))
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--out", type=Path, default=Path("runs/dpo_exp"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--dpo", nargs="*", default=[], help="extra key=value overrides for the DPO run")
    args = ap.parse_args()
    from medmllm.data.synth.preferences import write_preferences

    write_preferences(args.data, ["xray"])
    before_scores, before = reports(args.model, args.data, args.out / "eval_sft")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "medmllm.cli", "train", "medmllm/configs/demo_dpo.yaml",
                    f"train.init_from={args.model}", f"data.train=[{args.data / 'xray_pref_train.jsonl'}]",
                    f"train.max_steps={args.steps}", f"train.output_dir={args.out / 'dpo'}", *args.dpo], check=True)
    train_s = time.perf_counter() - t
    after_scores, after = reports(args.out / "dpo" / "model", args.data, args.out / "eval_dpo")
    keep = ("bleu4", "ciderD", "chexpert_f1_14_micro", "chexpert_f1_5_micro")
    summary = {"dpo_steps": args.steps, "dpo_overrides": args.dpo, "dpo_train_seconds": round(train_s, 1),
               "sft": {**rates(before, args.data), **{k: before_scores.get(k) for k in keep}},
               "dpo": {**rates(after, args.data), **{k: after_scores.get(k) for k in keep}}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
