"""`make demo` over training seeds, scored on MedSynth sets the demo never saw (issue 15's table).

    .venv/bin/python benchmarks/demo_seeds.py --out runs/demo_seeds --seeds 0 1 2 --unseen 777 778 779

For every training seed: `medmllm demo --seed N --out <out>/seedN` (skipped where its `results.json`
exists, so runs made elsewhere, e.g. side by side, can be scored), then its model on the test splits of
MedSynth x-ray sets made with the unseen seeds (`medmllm synth --modalities xray --n 2000 --seed S`):
closed VQA accuracy (LLaVA-Med's convention) per family, open recall and reasoning closed accuracy.
Writes `<out>/summary.json` and prints the markdown tables of `benchmarks/demo.md`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def unseen_set(out: Path, seed: int) -> Path:
    """The MedSynth x-ray set of `seed`, made once under `out`."""
    data = out / f"unseen{seed}"
    if not (data / "xray_vqa_test.jsonl").exists():
        subprocess.run([BIN / "medmllm", "synth", "--out", data, "--modalities", "xray", "--n", "2000",
                        "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return data


def score(model: Path, data: Path, out: Path) -> dict:
    """Closed VQA (and per family), open recall and reasoning closed accuracy of `model` on `data`."""
    from medmllm.eval.backends import BACKENDS
    from medmllm.eval.evaluate import run
    from medmllm.eval.tasks import resolve

    tasks = [resolve("medsynth-xray-vqa", data), resolve("medsynth-xray-reason", data)]
    results = run(BACKENDS.get("local")(model, batch_size=32), tasks, out, blank=False)["tasks"]
    vqa, reason = results["medsynth-xray-vqa"], results["medsynth-xray-reason"]
    families = {k: v["closed_accuracy"] for k, v in vqa["by_category"].items() if "closed_accuracy" in v}
    families.update({f"reason: {k}": v["closed_accuracy"] for k, v in reason["by_category"].items()
                     if "closed_accuracy" in v})
    return {"closed_accuracy": vqa["scores"]["closed_accuracy"], "n_closed": vqa["scores"]["n_closed"],
            "open_recall": vqa["scores"]["open_recall"], "reasoning": reason["scores"]["closed_accuracy"],
            "families": families, "other_side": other_side(out / "predictions.jsonl", data / "xray_vqa_test.jsonl")}


def other_side(predictions: Path, manifest: Path) -> list[int]:
    """[right, asked]: the closed side questions ("Is there a left pneumothorax?") whose finding the image
    has on the other side, the only ones a model cannot answer from the finding's presence alone."""
    findings = {}
    for line in manifest.read_text().splitlines():
        rec = json.loads(line)
        findings[rec["id"]] = rec["meta"]["findings"]
    right = asked = 0
    for line in predictions.read_text().splitlines():
        p = json.loads(line)
        finding, _, side = p["category"].partition("_")
        if finding in ("effusion", "pneumothorax") and side in ("left", "right") and p["id"] in findings:
            f = findings[p["id"]]
            if f[finding] and f[f"{finding}_side"] != side:
                asked += 1
                right += int(p["scores"]["closed_accuracy"] == 1.0)
    return [right, asked]


def demo_row(run: Path) -> dict:
    """The demo's own figures: its split's closed VQA (blank), BLEU-4, CIDEr-D, reasoning, wall time."""
    r = json.loads((run / "results.json").read_text())
    t = r["tasks"]
    return {"closed_accuracy": t["xray_vqa_test"]["scores"]["closed_accuracy"],
            "blank_closed_accuracy": t["xray_vqa_test"]["blank_scores"]["closed_accuracy"],
            "bleu4": t["xray_report_test"]["scores"].get("bleu4"), "cider": t["xray_report_test"]["scores"].get("ciderD"),
            "reasoning": t["xray_reason_test"]["scores"]["closed_accuracy"], "wall_seconds": r["demo"]["wall_seconds"]}


def tables(summary: dict) -> str:
    """The per-seed table and the per-family table (mean and range over every pair)."""
    seeds, unseen = summary["seeds"], summary["unseen"]
    lines = ["| training seed | demo split: closed VQA (blank) | BLEU-4 | CIDEr-D | reasoning | wall | "
             + " / ".join(map(str, unseen)) + ": closed VQA | unseen reasoning |", "|---|---|---|---|---|---|---|---|"]
    pairs = []
    for seed in seeds:
        d, u = summary["runs"][str(seed)]["demo"], summary["runs"][str(seed)]["unseen"]
        pairs += [u[str(s)] for s in unseen]
        lines.append(f"| {seed} | {d['closed_accuracy']:.3f} ({d['blank_closed_accuracy']:.3f}) | {d['bleu4']:.3f} | "
                     f"{d['cider']:.3f} | {d['reasoning']:.3f} | {d['wall_seconds']:.0f} s | "
                     + " / ".join(f"{u[str(s)]['closed_accuracy']:.3f}" for s in unseen) + " | "
                     + " / ".join(f"{u[str(s)]['reasoning']:.3f}" for s in unseen) + " |")
    acc = [p["closed_accuracy"] for p in pairs]
    sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
    lines.append(f"| **{len(pairs)} pairs** | | | | | | mean {statistics.mean(acc):.3f}, sd {sd:.3f}, "
                 f"{min(acc):.3f}–{max(acc):.3f} | mean {statistics.mean(p['reasoning'] for p in pairs):.3f} |")
    hard = [p["other_side"] for p in pairs if "other_side" in p]
    lines += ["", f"Effusion and pneumothorax side questions with the finding on the other side: "
              f"{sum(r for r, _ in hard)} of {sum(n for _, n in hard)} right over the {len(hard)} pairs."]
    lines += ["", "| family | mean | min | max |", "|---|---|---|---|"]
    for family in sorted({f for p in pairs for f in p["families"]}):
        values = [p["families"][family] for p in pairs if family in p["families"]]
        lines.append(f"| {family} | {statistics.mean(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
    return "\n".join(lines)


def main() -> None:
    from medmllm.files import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/demo_seeds"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--unseen", type=int, nargs="+", default=[777, 778, 779])
    args = ap.parse_args()
    summary = {"seeds": args.seeds, "unseen": args.unseen, "runs": {}}
    data = {s: unseen_set(args.out, s) for s in args.unseen}
    for seed in args.seeds:
        run = args.out / f"seed{seed}"
        if not (run / "results.json").exists():
            subprocess.run([BIN / "medmllm", "demo", "--seed", str(seed), "--out", run], check=True)
        summary["runs"][str(seed)] = {
            "demo": demo_row(run),
            "unseen": {str(s): score(run / "model", data[s], run / f"eval_unseen{s}") for s in args.unseen}}
        atomic_write(args.out / "summary.json", json.dumps(summary, indent=2))
    print(tables(summary))


if __name__ == "__main__":
    main()
