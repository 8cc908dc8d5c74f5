"""Scoring functions, registered by name. Each takes (predictions, references) and returns
(corpus score, per-sample scores). This first set names its conventions plainly:

* `closed_accuracy` — the first `yes`/`no` word of the prediction equals the reference's.
* `open_recall`     — share of the reference's word types found in the prediction (lowercased,
                      punctuation removed), the idea of LLaVA-Med's open "recall", set-based here.
* `bleu4`           — corpus BLEU-4 as pycocoevalcap computes it (summed n-gram counts, closest
                      reference length, 1e-9/1e-15 smoothing) on lowercased, punctuation-free words.
* `rougeL`          — ROUGE-L F-measure with beta = 1.2 (pycocoevalcap), mean over samples.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Callable

from ..registry import Registry

METRICS: Registry[Callable] = Registry("metric")
_PUNCT = re.compile(r"[^\w\s]")
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)


def words(text: str) -> list[str]:
    return _PUNCT.sub(" ", text.lower()).split()


def extract_answer(text: str) -> str:
    """The text inside <answer>...</answer> (an unclosed tag too), else the whole text."""
    m = _ANSWER.search(text)
    return m.group(1).strip() if m else text.strip()


def yes_no(text: str) -> str | None:
    for w in words(extract_answer(text)):
        if w in ("yes", "no"):
            return w
    return None


@METRICS.register("closed_accuracy")
def closed_accuracy(preds: list[str], refs: list[str]) -> tuple[float, list[float]]:
    per = [float(yes_no(p) is not None and yes_no(p) == yes_no(r)) for p, r in zip(preds, refs)]
    return (sum(per) / len(per) if per else float("nan")), per


@METRICS.register("open_recall")
def open_recall(preds: list[str], refs: list[str]) -> tuple[float, list[float]]:
    per = []
    for p, r in zip(preds, refs):
        ref = set(words(extract_answer(r)))
        per.append(len(ref & set(words(extract_answer(p)))) / len(ref) if ref else 0.0)
    return (sum(per) / len(per) if per else float("nan")), per


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


CONVENTIONS = {
    "closed_accuracy": "first yes/no word of the answer (inside <answer> if present) equals the reference's",
    "open_recall": "share of the reference's lowercased word types found in the prediction",
    "bleu4": "corpus BLEU-4, pycocoevalcap counting (closest ref length), lowercased words without punctuation",
    "rougeL": "ROUGE-L F (beta 1.2, pycocoevalcap), lowercased words without punctuation, mean over samples",
}
