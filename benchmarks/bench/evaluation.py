"""Evaluation: the wall time of the demo's evaluation (`medmllm demo` step 4: the x-ray VQA, report
and reasoning test splits, real and blank images, every task's metrics), and the report metrics
(BLEU-1..4, ROUGE-L, CIDEr-D) against pycocoevalcap on the same report pairs.

    .venv/bin/python benchmarks/bench/evaluation.py --reps 3 --json /tmp/evaluation.json [--data DIR]

The evaluation runs in this process as the demo runs it (`medmllm.eval.evaluate.evaluate`), on the
untrained demo-size model (`_model.py`) and the runner's MedSynth data, `LIMIT` items per task, into
a fresh folder each time (answers are cached per item). No warm-up round: the first repetition
pays what a fresh `medmllm eval` pays after loading the model. METEOR runs pycocoevalcap's Java jar
(one process kept for the life of this one: the first repetition pays its start, about 7 s),
timed apart as "of which METEOR". The metric comparison is
`benchmarks/report_metrics.py`'s (see report_metrics.md), `REPORT_PAIRS` pairs, caches emptied
before each call.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, Figure, args, emit, interleave, synth_data
from _model import demo_model

LIMIT = 4
"""Items per test split (the demo's quick run evaluates 24)."""
EVAL_REPS = 2
"""At most this many repetitions of the demo evaluation: one takes ~20-40 s on 2 cores, most of it METEOR's JVMs."""
REPORT_PAIRS = 1000
TASKS = ("vqa", "report", "reason")


def demo_eval(data: Path, model: Path, reps: int) -> list[Figure]:
    """Wall seconds, items/s and METEOR's seconds of the demo's evaluation."""
    import medmllm
    from medmllm.eval.evaluate import evaluate
    from medmllm.eval.metrics import _meteor

    engine = medmllm.load(model)
    tests = [data / f"xray_{task}_test.jsonl" for task in TASKS]
    meteor, items = [0.0], []
    timed_meteor = _meteor.meteor_scores

    def counted(*a, **k):
        t = time.perf_counter()
        try:
            return timed_meteor(*a, **k)
        finally:
            meteor[0] += time.perf_counter() - t

    _meteor.meteor_scores = counted
    walls, meteors = [], []
    for _ in range(min(reps, EVAL_REPS)):
        meteor[0] = 0.0
        with tempfile.TemporaryDirectory(prefix="medmllm-bench-eval-") as out:
            t = time.perf_counter()
            results = evaluate(engine, tests, out, limit=LIMIT)
            walls.append(time.perf_counter() - t)
        meteors.append(meteor[0])
        items.append(results["generated"] / walls[-1])
    note = (f"{len(TASKS)} x-ray test splits x {LIMIT} items, real + blank images "
            f"({results['generated']} answers), untrained demo-size model")
    return [Figure("demo evaluation wall time", "s", walls, higher_better=False, note=note),
            Figure("demo evaluation throughput", "answers/s", items, note=note),
            Figure("of which METEOR (Java jar)", "s", meteors, higher_better=False,
                   note="pycocoevalcap's meteor-1.5.jar, one process kept and reused: the first repetition starts it")]


def report_metrics(reps: int) -> list[Figure]:
    """Seconds of BLEU-1..4 + ROUGE-L + CIDEr-D on the same pairs: ours vs pycocoevalcap."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import report_metrics as rm

    preds, refs, source = rm.load_pairs(REPORT_PAIRS)
    note = f"{len(preds)} pairs: {source}; caches emptied before each call"

    def clock(fn):
        def run() -> float:
            rm._cold()
            t = time.perf_counter()
            fn(preds, refs)
            return time.perf_counter() - t
        return run

    try:
        rm.reference(preds[:2], refs[:2])
    except (ImportError, OSError) as e:  # pycocoevalcap absent, or no Java for its tokenizer
        ours = interleave({"ours": clock(rm.ours)}, reps)["ours"]
        return [Figure("BLEU-1..4 + ROUGE-L + CIDEr-D", "s", ours, higher_better=False,
                       note=f"{note}; pycocoevalcap unavailable ({type(e).__name__}: {str(e)[:80]})")]
    out = interleave({"ours": clock(rm.ours), "base": clock(rm.reference)}, reps)
    return [Figure("BLEU-1..4 + ROUGE-L + CIDEr-D", "s", out["ours"], out["base"],
                   "pycocoevalcap 1.2 (Java PTB tokenizer, JVM start included)", higher_better=False,
                   target=10.0, note=note)]


def main() -> None:
    a = args(__doc__)
    data = synth_data(a.data)
    emit("evaluation", demo_eval(data, demo_model(data), a.reps) + report_metrics(a.reps), a.json)


if __name__ == "__main__":
    main()
