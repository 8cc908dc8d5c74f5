"""Hallucinated findings in generated chest X-ray reports, against MedSynth ground truth.

A finding is hallucinated when the CheXpert labeler (`medmllm.chexpert.label`) marks it
positive (1) in the generated report while the case does not have it (`medsynth_labels` of its
`meta.findings` says 0). Four MedSynth findings are tracked, by their CheXpert names:

    cardiomegaly -> Cardiomegaly, effusion -> Pleural Effusion, pneumothorax -> Pneumothorax,
    nodule -> Lung Lesion

Rates: per report, hallucinated / absent findings of that case (None when the case has all four);
overall (micro), all hallucinated / all absent findings; plus the share of reports with at least
one hallucination and a per-finding breakdown. Uncertain mentions (-1) are not counted.

Wrong side: for a lateral finding the case has (effusion, pneumothorax) and the report states
positively, the sides named in the sentences stating it (`left`, `right`; `bilateral` is both) are
compared with the true side. A report is wrong-sided when it names the other side; it is only
counted when a side can be read: a sentence that also states another tracked finding positively
(e.g. "left effusion and a right upper zone nodule") is ambiguous and ignored.
"""
from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from ..chexpert import label, medsynth_labels, sentences

FINDINGS = {"cardiomegaly": "Cardiomegaly", "effusion": "Pleural Effusion", "pneumothorax": "Pneumothorax",
            "nodule": "Lung Lesion"}
LATERAL = ("effusion", "pneumothorax")
_SIDE = re.compile(r"\b(left|right|bilateral|bilaterally|both)\b")


def stated_sides(report: str, finding: str) -> Optional[set[str]]:
    """Sides ({"left", "right"}) the report gives a lateral finding in its positive sentences; None when
    no positive sentence names a side unambiguously."""
    obs, others = FINDINGS[finding], [o for f, o in FINDINGS.items() if f != finding]
    sides: set[str] = set()
    for sent in sentences(report):
        labels = label(sent)
        if labels.get(obs) != 1 or any(labels.get(o) == 1 for o in others):
            continue
        for word in _SIDE.findall(sent):
            sides |= {"left", "right"} if word in ("bilateral", "bilaterally", "both") else {word}
    return sides or None


def report_hallucinations(report: str, findings: dict[str, Any]) -> dict[str, Any]:
    """One report: hallucinated findings, how many were absent, the rate, and side errors."""
    truth, said = medsynth_labels(findings), label(report)
    absent = [f for f, obs in FINDINGS.items() if truth[obs] == 0]
    hallucinated = [f for f in absent if said.get(FINDINGS[f]) == 1]
    wrong_side, side_checked = [], []
    for f in LATERAL:
        true_side = findings.get(f"{f}_side")
        if truth[FINDINGS[f]] != 1 or not true_side or said.get(FINDINGS[f]) != 1:
            continue
        sides = stated_sides(report, f)
        if sides is None:
            continue
        side_checked.append(f)
        if sides - {true_side}:
            wrong_side.append(f)
    return {"hallucinated": hallucinated, "absent": len(absent),
            "rate": len(hallucinated) / len(absent) if absent else None,
            "wrong_side": wrong_side, "side_checked": side_checked}


def hallucination_rate(reports: Sequence[str], findings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Hallucination and wrong-side rates of generated reports; `findings[i]` is report i's `meta.findings`.

    Returns `hallucination_rate` (hallucinated / absent findings, all reports), `reports_with_hallucination`
    (share of reports), `per_finding` ({finding: {hallucinated, absent, rate}}), `wrong_side_rate`
    (wrong-sided / side-checked lateral findings; None when none could be checked), the counts, and
    `per_report` (see `report_hallucinations`)."""
    if len(reports) != len(findings):
        raise ValueError(f"{len(reports)} reports but {len(findings)} findings")
    per_report = [report_hallucinations(r, f) for r, f in zip(reports, findings)]
    per_finding = {}
    for f, obs in FINDINGS.items():
        absent = sum(medsynth_labels(fd)[obs] == 0 for fd in findings)
        hits = sum(f in p["hallucinated"] for p in per_report)
        per_finding[f] = {"hallucinated": hits, "absent": absent, "rate": hits / absent if absent else None}
    n_hall, n_absent = sum(len(p["hallucinated"]) for p in per_report), sum(p["absent"] for p in per_report)
    n_wrong, n_checked = sum(len(p["wrong_side"]) for p in per_report), sum(len(p["side_checked"]) for p in per_report)
    return {"hallucination_rate": n_hall / n_absent if n_absent else None,
            "reports_with_hallucination": sum(bool(p["hallucinated"]) for p in per_report) / len(per_report)
            if per_report else None,
            "hallucinated": n_hall, "absent": n_absent, "per_finding": per_finding,
            "wrong_side_rate": n_wrong / n_checked if n_checked else None,
            "wrong_side": n_wrong, "side_checked": n_checked, "reports": len(per_report), "per_report": per_report}
