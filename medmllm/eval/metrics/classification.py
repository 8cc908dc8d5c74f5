"""Classification metrics: accuracy, macro F1, AUROC (one-vs-rest macro), as scikit-learn computes them.

`accuracy(preds, refs)` and `macro_f1(preds, refs, *, labels=None)` take predicted and true labels
(strings or ints). `auroc(scores, refs, *, labels=None)` takes scores: one probability of the
positive class per sample for a binary task (refs 0/1 or False/True), or one row of per-class
probabilities per sample for a multi-class task (refs are column indices, or labels looked up in
`labels`, the column order). All return (corpus value, second list): per-sample correctness for
accuracy, per-class F1 / AUROC (in label order) for the other two, which are not sample means.
tests/eval/test_classification.py checks them against scikit-learn.
"""
from __future__ import annotations

import math
from typing import Hashable, Sequence

from ...errors import MedMLLMError
from . import CONVENTIONS, METRICS


def _same_length(name: str, preds: Sequence, refs: Sequence) -> None:
    if len(preds) != len(refs):
        raise MedMLLMError(f"{name}: {len(preds)} predictions but {len(refs)} references")


def _sorted(labels) -> list:
    try:
        return sorted(labels)
    except TypeError:  # mixed types: a stable order all the same
        return sorted(labels, key=lambda x: (type(x).__name__, repr(x)))


@METRICS.register("accuracy")
def accuracy(preds: Sequence[Hashable], refs: Sequence[Hashable]) -> tuple[float, list[float]]:
    """Share of predictions equal to their reference (sklearn accuracy_score)."""
    _same_length("accuracy", preds, refs)
    per = [float(p == r) for p, r in zip(preds, refs)]
    return (sum(per) / len(per) if per else float("nan")), per


@METRICS.register("macro_f1")
def macro_f1(preds: Sequence[Hashable], refs: Sequence[Hashable], *,
             labels: Sequence[Hashable] | None = None) -> tuple[float, list[float]]:
    """Unweighted mean over labels of F1 = 2TP / (2TP + FP + FN); labels default to every label seen in
    refs or preds, sorted (sklearn f1_score(average="macro")); a label never seen anywhere scores 0."""
    _same_length("macro_f1", preds, refs)
    labels = list(labels) if labels is not None else _sorted(set(refs) | set(preds))
    if not labels:
        return float("nan"), []
    per_class = []
    for label in labels:
        tp = sum(1 for p, r in zip(preds, refs) if p == label and r == label)
        fp = sum(1 for p, r in zip(preds, refs) if p == label and r != label)
        fn = sum(1 for p, r in zip(preds, refs) if p != label and r == label)
        per_class.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(per_class) / len(per_class), per_class


def _binary_auroc(scores: Sequence[float], positive: Sequence[bool], what: str) -> float:
    """Mann-Whitney U / (P * N) with average ranks for ties, which equals the trapezoidal ROC area."""
    n_pos = sum(positive)
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise MedMLLMError(f"auroc: {what} has only one class among the references; AUROC is not defined")
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, pos in zip(ranks, positive) if pos)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@METRICS.register("auroc")
def auroc(scores: Sequence, refs: Sequence[Hashable], *,
          labels: Sequence[Hashable] | None = None) -> tuple[float, list[float]]:
    """Binary: ROC AUC of the positive-class probability (sklearn roc_auc_score). Multi-class: one-vs-rest
    AUROC of each column against "ref is this class", unweighted mean (roc_auc_score(multi_class="ovr",
    average="macro")). Every class needs positive and negative references."""
    _same_length("auroc", scores, refs)
    if not scores:
        return float("nan"), []
    rows = [s for s in scores if hasattr(s, "__len__") and not isinstance(s, str)]
    if not rows:  # binary
        values = [float(s) for s in scores]
        if any(math.isnan(v) for v in values):
            raise MedMLLMError("auroc: a score is NaN")
        positive_label = labels[1] if labels is not None and len(labels) == 2 else 1
        value = _binary_auroc(values, [r == positive_label for r in refs], "the positive class")
        return value, [value]
    if len(rows) != len(scores) or len({len(s) for s in scores}) != 1:
        raise MedMLLMError("auroc: give one score per sample (binary) or equally long rows of class probabilities")
    n_classes = len(scores[0])
    if labels is None:
        labels = list(range(n_classes))
    elif len(labels) != n_classes:
        raise MedMLLMError(f"auroc: {len(labels)} labels but {n_classes} score columns")
    known = set(labels)
    if unknown := [r for r in refs if r not in known]:
        raise MedMLLMError(f"auroc: reference {unknown[0]!r} is not one of the labels {list(labels)}")
    if n_classes == 2:  # two columns: binary, the second column scores labels[1] (sklearn takes that 1-D column)
        value = _binary_auroc([float(s[1]) for s in scores], [r == labels[1] for r in refs], "the positive class")
        return value, [value]
    per_class = [_binary_auroc([float(s[k]) for s in scores], [r == label for r in refs], f"class {label!r}")
                 for k, label in enumerate(labels)]
    return sum(per_class) / len(per_class), per_class


CONVENTIONS.update({
    "accuracy": "share of predicted labels equal to the reference (sklearn accuracy_score)",
    "macro_f1": "unweighted mean of per-label F1 over labels seen in refs or preds (sklearn f1_score average=macro, "
                "zero_division=0)",
    "auroc": "ROC AUC from probabilities, ties counted half; multi-class one-vs-rest, unweighted mean "
             "(sklearn roc_auc_score multi_class=ovr average=macro)",
})
