"""Multiple choice: the option a free-text answer picks, then accuracy.

`choice_accuracy` reads the chosen option from the answer (inside `<answer>` tags when present):
a lone letter ("B", "(B)", "B:", "B."), "answer is B" / "Answer: B", else the single option whose
text the answer contains, else an answer equal to one of the labels (PubMedQA's yes/no/maybe). An
answer that names no option or several is wrong.
"""
from __future__ import annotations

import re

from ...answers import extract_answer
from . import CONVENTIONS, METRICS

_LONE = re.compile(r"^\W*\(?([A-Z])\)?(?:[\s.:)\]]|$)")
_STATED = re.compile(r"\b(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-Z])\)?(?:\W|$)", re.I)


def pick(answer: str, choices: dict[str, str] | None = None) -> str | None:
    """The option key an answer picks, or None."""
    text = extract_answer(answer).strip()
    keys = list(choices or {})
    letters = [k for k in keys if len(k) == 1 and k.isupper()] or list("ABCDE")
    m = _STATED.search(text)
    if m and m.group(1).upper() in letters:
        return m.group(1).upper()
    m = _LONE.search(text)
    if m and m.group(1) in letters:
        named = set(re.findall(r"\b([A-Z])\b", text)) & set(letters)
        return m.group(1) if len(named) == 1 else None  # "A or B" names several
    low = text.lower().strip(" .!")
    for key in keys:
        if low == key.lower():
            return key
    hits = [k for k, v in (choices or {}).items() if v and str(v).lower() in low]
    if len(hits) == 1:
        return hits[0]
    words = set(re.findall(r"[a-z]+", low))
    named = [k for k in keys if k.lower() in words and len(k) > 1]
    return named[0] if len(named) == 1 else None


@METRICS.register("choice_accuracy")
def choice_accuracy(preds: list[str], refs: list[str], *, choices: list[dict] | None = None) -> tuple[float, list[float]]:
    per = []
    for i, (p, r) in enumerate(zip(preds, refs)):
        opts = choices[i] if choices and choices[i] else None
        per.append(float(pick(p, opts) == r.strip()))
    return (sum(per) / len(per) if per else float("nan")), per


CONVENTIONS["choice_accuracy"] = ("option picked by a lone/stated letter, else by the one option text or label the "
                                  "answer contains; none or several = wrong")
