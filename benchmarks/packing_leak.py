"""Does a model answer a side question from the image, or from earlier answers in the chat?

    .venv/bin/python benchmarks/packing_leak.py --model runs/demo/model --data /tmp/s777

For every test case of a MedSynth x-ray set with a pleural effusion or a pneumothorax, the model is asked
"Is there a right <finding>?" three ways: alone; after "Is there <finding>? yes" and "Is there a left
<finding>? no"; and after the same with "yes". A model that reads the side from the image answers the
same each time; one that learnt the text's logic (exactly one side) answers "yes" after "no" and "no"
after "yes". Merged into one chat, the demo's packed questions let it learn the latter
(`benchmarks/demo.md`). Prints the counts per finding and way.
"""
from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

QUESTIONS = {"effusion": ("Is there a pleural effusion?", "Is there a left pleural effusion?",
                          "Is there a right pleural effusion?"),
             "pneumothorax": ("Is there a pneumothorax?", "Is there a left pneumothorax?",
                              "Is there a right pneumothorax?")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a saved medmllm model folder")
    ap.add_argument("--data", required=True, help="a MedSynth set (its xray_report_test.jsonl gives the cases)")
    args = ap.parse_args()
    from medmllm.engine import load

    engine, data = load(args.model), Path(args.data)
    counts: collections.Counter = collections.Counter()
    for line in (data / "xray_report_test.jsonl").read_text().splitlines():
        rec = json.loads(line)
        findings, image = rec["meta"]["findings"], [str(data / rec["image"])]
        for finding, (present, left, right) in QUESTIONS.items():
            if not findings[finding]:
                continue
            truth = "yes" if findings[f"{finding}_side"] == "right" else "no"
            alone = engine.generate([engine.sample("<image>\n" + right, {"image": image})], 4)[0].strip()
            counts[(finding, "alone", "right" if alone == truth else "wrong")] += 1
            for said in ("no", "yes"):
                chat = [{"role": "user", "content": "<image>\n" + present}, {"role": "assistant", "content": "yes"},
                        {"role": "user", "content": left}, {"role": "assistant", "content": said},
                        {"role": "user", "content": right}]
                answer = engine.generate([engine.conversation(chat, {"image": image})], 4)[0].strip()
                counts[(finding, f"after left: {said}", answer)] += 1
    print("| finding | asked | answers |\n|---|---|---|")
    for finding in QUESTIONS:
        for way in ("alone", "after left: no", "after left: yes"):
            got = {k[2]: v for k, v in sorted(counts.items()) if k[:2] == (finding, way)}
            print(f"| {finding} | {way} | {', '.join(f'{k} {v}' for k, v in got.items())} |")


if __name__ == "__main__":
    main()
