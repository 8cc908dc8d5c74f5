"""Clinical-efficacy metrics: CheXpert-label F1 between generated and reference reports.

Both sides are labeled with the rule-based labeler of :mod:`medmllm.chexpert` (not the
CheXbert model and not the NegBio-based original, so numbers are comparable with neither).
Each label becomes 0/1 by the ``uncertain`` policy:

* ``"positive"`` (default, the CheXbert/f1chexbert ``rrg`` convention): 1 and -1 -> 1; 0 and
  not mentioned -> 0;
* ``"negative"`` (R2Gen ``compute_ce.py``): only 1 -> 1; -1, 0 and not mentioned -> 0.

The corpus score is sklearn's ``f1_score`` over the (report x label) 0/1 matrix: *micro* pools
TP/FP/FN over all reports and labels, 2TP / (2TP + FP + FN); *macro* is the mean over labels of
each label's F1, where a label no report has on either side scores 0 (sklearn's default
``zero_division``).  The per-sample list holds, for each report, the example-based F1 over the
label set: 2|P & R| / (|P| + |R|) for the predicted and reference positive sets P and R, and 1.0
when both are empty (sklearn ``average="samples"`` with ``zero_division=1``).  It is returned
beside the corpus score, never averaged into it.  Label sets: 14 = all CheXpert observations in
``OBSERVATIONS`` order, No Finding included; 5 = Cardiomegaly, Edema, Consolidation, Atelectasis,
Pleural Effusion.
"""
from __future__ import annotations

from ...errors import MedMLLMError
from . import CONVENTIONS, METRICS

_POLICIES = ("positive", "negative")


def _binary(labels: list[dict], names: tuple[str, ...], uncertain: str) -> list[list[int]]:
    pos = (1, -1) if uncertain == "positive" else (1,)
    return [[int(d[n] in pos) for n in names] for d in labels]


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def chexpert_f1(preds: list[str], refs: list[str], names: tuple[str, ...], average: str,
                uncertain: str = "positive") -> tuple[float, list[float]]:
    """F1 over the CheXpert labels ``names`` of generated vs reference reports (see the module doc)."""
    from ...chexpert import label_many

    if uncertain not in _POLICIES:
        raise MedMLLMError(f"uncertain={uncertain!r}: choose positive (CheXbert rrg) or negative (R2Gen)")
    if len(preds) != len(refs):
        raise MedMLLMError(f"{len(preds)} predictions but {len(refs)} references")
    p = _binary(label_many(preds), names, uncertain)
    r = _binary(label_many(refs), names, uncertain)
    per = []
    for pv, rv in zip(p, r):
        hit = sum(a & b for a, b in zip(pv, rv))
        per.append(1.0 if sum(pv) + sum(rv) == 0 else 2 * hit / (sum(pv) + sum(rv)))
    counts = [[0, 0, 0] for _ in names]  # tp, fp, fn per label
    for pv, rv in zip(p, r):
        for k, (a, b) in enumerate(zip(pv, rv)):
            counts[k][0] += a & b
            counts[k][1] += a & (1 - b)
            counts[k][2] += (1 - a) & b
    if not per:
        return float("nan"), per
    if average == "micro":
        score = _f1(*(sum(c[i] for c in counts) for i in range(3)))
    else:
        score = sum(_f1(*c) for c in counts) / len(counts)
    return score, per


def _register(name: str, names_attr: str, average: str, n: int) -> None:
    def metric(preds: list[str], refs: list[str], *, uncertain: str = "positive") -> tuple[float, list[float]]:
        from ... import chexpert

        return chexpert_f1(preds, refs, getattr(chexpert, names_attr), average, uncertain)

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = (f"{average.title()} F1 over the {n} CheXpert labels (rule-based labeler on both sides); "
                      "per-sample: example-based F1 per report. uncertain: positive (CheXbert rrg) or negative "
                      "(R2Gen compute_ce).")
    METRICS.register(name)(metric)
    which = "incl. No Finding" if n == 14 else "Cardiomegaly, Edema, Consolidation, Atelectasis, Pleural Effusion"
    CONVENTIONS[name] = (
        f"{average} F1 over {n} CheXpert labels ({which}), both sides labeled by medmllm's rule-based "
        "CheXpert labeler (clause-level cue rules, not NegBio/CheXbert); "
        "uncertain=positive: -1->1 (CheXbert rrg), uncertain=negative: -1->0 (R2Gen compute_ce); blank->0; "
        "sklearn f1_score semantics (labels absent on both sides score 0 in macro); per-sample = example F1 "
        "(1.0 when both label sets are empty)")


for _name, _attr, _avg, _n in (("chexpert_f1_14_micro", "OBSERVATIONS", "micro", 14),
                               ("chexpert_f1_14_macro", "OBSERVATIONS", "macro", 14),
                               ("chexpert_f1_5_micro", "FIVE", "micro", 5),
                               ("chexpert_f1_5_macro", "FIVE", "macro", 5)):
    _register(_name, _attr, _avg, _n)
