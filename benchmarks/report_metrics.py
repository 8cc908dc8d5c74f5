"""Time BLEU-1..4 + ROUGE-L + CIDEr-D on 1,000 report pairs: medmllm (Python + numpy, `ptb`
tokenisation; `report_scores`, and the single-metric functions one by one) vs pycocoevalcap 1.2 (PTBTokenizer in Java, JVM start included, + Bleu + Rouge + Cider).

    .venv/bin/python benchmarks/report_metrics.py [--n 1000] [--runs 3]

Uses the Open-i reports from $MEDMLLM_NLMCXR_DIR (or ~/.cache/medmllm/nlmcxr) when present, else
generated report pairs from tests/eval/test_lexical.py.  Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "eval"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def load_pairs(n: int):
    import test_lexical as T
    try:
        preds, refs = T.real_pairs(limit=n)
        return preds, refs, "Open-i (IU X-ray) findings vs another report's findings (+impression for 1 in 4)"
    except BaseException:  # pytest.skip raises a BaseException subclass
        preds, refs = T.generated_pairs(n=n)
        return preds, refs, "generated report pairs (tests/eval/test_lexical.py)"


def _cold():
    """Empty every cache, so each run tokenises and counts from scratch."""
    from medmllm.eval.metrics import _tokenize, lexical
    lexical._tok_cached.cache_clear()
    lexical._corpus.cache_clear()
    _tokenize._CHUNKS.clear()


def ours(preds, refs):
    """The combined call: one tokenisation, one n-gram pass, all three metrics."""
    from medmllm.eval.metrics.lexical import report_scores
    r = report_scores(preds, refs, tokenize="ptb")
    return {k: r[k][0] for k in ("bleu4", "rougeL", "ciderD")}


def ours_single(preds, refs):
    """The registered single-metric functions one after the other (bleu1..4, rougeL, ciderD), as
    `medmllm score report` calls them; they share the tokenisation and n-gram pass via a cache."""
    from medmllm.eval.metrics import METRICS
    out = {}
    for name in ("bleu1", "bleu2", "bleu3", "bleu4", "rougeL", "ciderD"):
        out[name] = METRICS.get(name)(preds, refs, tokenize="ptb")[0]
    return {k: out[k] for k in ("bleu4", "rougeL", "ciderD")}


def reference(preds, refs):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": r} for r in rs] for i, rs in enumerate(refs)})
    res = tok.tokenize({i: [{"caption": p}] for i, p in enumerate(preds)})
    return {"bleu4": Bleu(4).compute_score(gts, res, verbose=0)[0][3],
            "rougeL": Rouge().compute_score(gts, res)[0],
            "ciderD": Cider().compute_score(gts, res)[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    preds, refs, source = load_pairs(a.n)
    impls = (("medmllm report_scores (Python + numpy, ptb)", ours),
             ("medmllm bleu1..4, rougeL, ciderD one by one", ours_single),
             ("pycocoevalcap 1.2 (Java PTB + Python)", reference))
    times = {name: [] for name, _ in impls}
    vals = {}
    for _ in range(a.runs):
        for name, fn in impls:
            _cold()  # outside the timing: freeing the previous run's caches is not this run's work
            t0 = time.perf_counter()
            vals[name] = fn(preds, refs)
            times[name].append(time.perf_counter() - t0)
    (n1, t1), (n3, t3), (n2, t2) = times.items()
    m1, m2, m3 = statistics.median(t1), statistics.median(t2), statistics.median(t3)
    print(f"pairs: {len(preds)} ({source}); runs: {a.runs}; python {platform.python_version()}; "
          f"cpus: {os.cpu_count()}\n")
    print("| implementation | median s | runs (s) | BLEU-4 | ROUGE-L | CIDEr-D |")
    print("|---|---|---|---|---|---|")
    for name, ts in times.items():
        v = vals[name]
        print(f"| {name} | {statistics.median(ts):.3f} | {', '.join(f'{t:.3f}' for t in ts)} | "
              f"{v['bleu4']:.6f} | {v['rougeL']:.6f} | {v['ciderD']:.6f} |")
    print(f"\nspeed-up (median): {m2 / m1:.1f}x (combined call), {m2 / m3:.1f}x (one by one)")
    diff = max(abs(vals[n][k] - vals[n2][k]) for n in (n1, n3) for k in vals[n1])
    print(f"max |difference| of the corpus scores: {diff:.2e}")


if __name__ == "__main__":
    main()
