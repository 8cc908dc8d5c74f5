"""VQA metrics: closed accuracy and open recall."""
from __future__ import annotations

from . import CONVENTIONS, METRICS, extract_answer, words


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


CONVENTIONS.update({
    "closed_accuracy": "first yes/no word of the answer (inside <answer> if present) equals the reference's",
    "open_recall": "share of the reference's lowercased word types found in the prediction",
})
