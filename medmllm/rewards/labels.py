"""`report_labels`: agreement of the 14 CheXpert labels of the answer and the reference report.

Both texts are labelled with `medmllm.chexpert.label` (imported on first use). Labels are
made binary: 1 (positive) and -1 (uncertain) are positive, 0 (negative) and None (not mentioned)
are negative. The score is the fraction of agreeing observations among those mentioned (not
None) in either text; 1.0 when neither mentions any. Note that the labeler sets "No Finding" to 1
when nothing is positive, so a text without positives "mentions" it. An empty answer scores 0.0
(a blank report would otherwise agree with every negative finding).
"""
from __future__ import annotations

from ..answers import answer_part
from . import register


@register("report_labels")
def report_labels(completion: str, reference: str) -> float:
    """Fraction of mentioned CheXpert observations on which completion and reference agree."""
    from ..chexpert import label

    ans = answer_part(completion)
    if not ans:
        return 0.0
    a, r = label(ans), label(answer_part(reference))
    mentioned = [k for k in r if a.get(k) is not None or r[k] is not None]
    if not mentioned:
        return 1.0
    pos = (1, -1)
    return sum((a.get(k) in pos) == (r[k] in pos) for k in mentioned) / len(mentioned)
