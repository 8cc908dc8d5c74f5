"""Report-generation metrics: BLEU and ROUGE-L."""
from __future__ import annotations

import math
from collections import Counter

from . import CONVENTIONS, METRICS, words


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


@METRICS.register("bleu4")
def bleu4(preds: list[str], refs: list[str]) -> tuple[float, list[float]]:
    tiny, small = 1e-15, 1e-9
    totals, per = {"guess": [0] * 4, "correct": [0] * 4, "hyp": 0, "ref": 0}, []
    for p, r in zip(preds, refs):
        hyp, ref = words(p), words(r)
        guess = [max(len(hyp) - k, 0) for k in range(4)]
        correct = [sum(min(c, _ngrams(ref, k + 1)[g]) for g, c in _ngrams(hyp, k + 1).items()) for k in range(4)]
        per.append(_bleu(guess, correct, len(hyp), len(ref), tiny, small))
        for k in range(4):
            totals["guess"][k] += guess[k]
            totals["correct"][k] += correct[k]
        totals["hyp"] += len(hyp)
        totals["ref"] += len(ref)
    return _bleu(totals["guess"], totals["correct"], totals["hyp"], totals["ref"], tiny, small), per


def _bleu(guess: list[int], correct: list[int], hyp_len: int, ref_len: int, tiny: float, small: float) -> float:
    logs = [math.log((correct[k] + tiny) / (guess[k] + small)) for k in range(4)]
    bleu = math.exp(sum(logs) / 4)
    ratio = (hyp_len + tiny) / (ref_len + small)
    return bleu * (math.exp(1 - 1 / ratio) if ratio < 1 else 1.0)


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@METRICS.register("rougeL")
def rouge_l(preds: list[str], refs: list[str], beta: float = 1.2) -> tuple[float, list[float]]:
    per = []
    for p, r in zip(preds, refs):
        hyp, ref = words(p), words(r)
        lcs = _lcs(hyp, ref)
        if lcs == 0:
            per.append(0.0)
            continue
        prec, rec = lcs / len(hyp), lcs / len(ref)
        per.append(((1 + beta**2) * prec * rec) / (rec + beta**2 * prec))
    return (sum(per) / len(per) if per else float("nan")), per


CONVENTIONS.update({
    "bleu4": "corpus BLEU-4, pycocoevalcap counting (closest ref length), lowercased words without punctuation",
    "rougeL": "ROUGE-L F (beta 1.2, pycocoevalcap), lowercased words without punctuation, mean over samples",
})
