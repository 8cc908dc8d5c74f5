"""Does DPO lower hallucinated findings in MedSynth x-ray reports? SFT start vs DPO, same test cases.

1. MedSynth preference pairs for the demo data: with `--pairs edits` (`write_preferences`) the
   rejected report is the true one with an absent finding added or a side swapped; with
   `--pairs onpolicy` both sides are the SFT model's own reports, `--samples` per training case
   at temperature 1.0, checked against the case's findings (`report_hallucinations`): rejected is
   the sample with the most hallucinated findings plus wrong sides, chosen a sample with none
   (else the true report; ties go to the alphabetically first text); cases whose samples are all
   correct give no pair. "None" covers only those two errors: a chosen sample may miss a finding
   or misstate a count or size;
2. reports for the x-ray report test split from the SFT model (the demo's `runs/demo/model`);
3. DPO from that model (`medmllm/configs/demo_dpo.yaml`), then reports from the DPO model;
4. hallucination and wrong-side rates of both (`medmllm.eval.hallucination`) on greedy reports
   and on `--eval-samples` reports per case sampled at temperature 1.0 (greedy reports of the
   SFT model hold too few hallucinations to compare), and BLEU-4 / CheXpert F1 so a gain in
   faithfulness is not bought with worse reports.

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


def sample_reports(model: Path, data: Path, split: str, samples: int, seed: int = 0) -> tuple[list[dict], list[str]]:
    """The split's report cases and `samples` reports per case sampled at temperature 1.0 (case i's are
    texts[i * samples:(i + 1) * samples]), 32 rows per generate call."""
    import torch

    from medmllm.engine import load

    torch.manual_seed(seed)
    engine = load(model)
    cases = [json.loads(line) for line in (data / f"xray_report_{split}.jsonl").read_text().splitlines()]
    batch = [s for c in cases for s in [engine.sample(c["conversations"][0]["value"],
                                                      {"image": [str(data / c["image"])]})] * samples]
    texts = [t for i in range(0, len(batch), 32)
             for t in engine.generate(batch[i:i + 32], max_new_tokens=192, do_sample=True, temperature=1.0)]
    return cases, texts


def sampled_rates(model: Path, data: Path, samples: int) -> dict:
    """Hallucination rates over `samples` reports per test case at temperature 1.0 (more events than greedy)."""
    from medmllm.eval.hallucination import hallucination_rate

    cases, texts = sample_reports(model, data, "test", samples)
    r = hallucination_rate(texts, [c["meta"]["findings"] for c in cases for _ in range(samples)])
    return {k: r[k] for k in ("hallucinated", "absent", "reports_with_hallucination", "wrong_side", "side_checked")}


def onpolicy_pairs(model: Path, data: Path, samples: int) -> tuple[Path, dict]:
    """Preference pairs from the model's own sampled reports (see the module docstring)."""
    from medmllm.eval.hallucination import report_hallucinations

    cases, texts = sample_reports(model, data, "train", samples)
    pairs, with_errors = [], 0
    for i, case in enumerate(cases):
        scored = []
        for text in texts[i * samples:(i + 1) * samples]:
            check = report_hallucinations(text, case["meta"]["findings"])
            scored.append((len(check["hallucinated"]) + len(check["wrong_side"]), text))
        with_errors += sum(e > 0 for e, _ in scored)
        worst, best = max(scored), min(scored)
        if worst[0] == 0:
            continue
        chosen = best[1] if best[0] == 0 else case["conversations"][1]["value"]
        pairs.append({"id": case["id"] + "-onpolicy", "image": case["image"],
                      "prompt": [case["conversations"][0]], "chosen": chosen, "rejected": worst[1]})
    out = data / "xray_pref_onpolicy_train.jsonl"
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    tmp.replace(out)
    return out, {"cases": len(cases), "samples": len(texts), "with_errors": with_errors, "pairs": len(pairs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=Path("runs/demo/model"))
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--out", type=Path, default=Path("runs/dpo_exp"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--dpo", nargs="*", default=[], help="extra key=value overrides for the DPO run")
    ap.add_argument("--pairs", choices=("edits", "onpolicy"), default="edits")
    ap.add_argument("--samples", type=int, default=4, help="sampled reports per case (--pairs onpolicy)")
    ap.add_argument("--eval-samples", type=int, default=4,
                    help="also score this many reports per test case sampled at temperature 1.0 (0: greedy only)")
    args = ap.parse_args()
    from medmllm.synth.preferences import write_preferences

    t = time.perf_counter()
    if args.pairs == "edits":
        write_preferences(args.data, ["xray"])
        pairs, pair_stats = args.data / "xray_pref_train.jsonl", {}
    else:
        pairs, pair_stats = onpolicy_pairs(args.model, args.data, args.samples)
    pair_stats["seconds"] = round(time.perf_counter() - t, 1)
    before_scores, before = reports(args.model, args.data, args.out / "eval_sft")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "medmllm.cli", "train", "medmllm/configs/demo_dpo.yaml",
                    f"train.init_from={args.model}", f"data.train=[{pairs}]",
                    f"train.max_steps={args.steps}", f"train.output_dir={args.out / 'dpo'}", *args.dpo], check=True)
    train_s = time.perf_counter() - t
    after_scores, after = reports(args.out / "dpo" / "model", args.data, args.out / "eval_dpo")
    keep = ("bleu4", "ciderD", "chexpert_f1_14_micro", "chexpert_f1_5_micro")
    summary = {"pairs": args.pairs, "pair_stats": pair_stats, "dpo_steps": args.steps, "dpo_overrides": args.dpo,
               "dpo_train_seconds": round(train_s, 1),
               "sft": {**rates(before, args.data), **{k: before_scores.get(k) for k in keep}},
               "dpo": {**rates(after, args.data), **{k: after_scores.get(k) for k in keep}}}
    if args.eval_samples:
        summary["sft"]["sampled"] = sampled_rates(args.model, args.data, args.eval_samples)
        summary["dpo"]["sampled"] = sampled_rates(args.out / "dpo" / "model", args.data, args.eval_samples)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
