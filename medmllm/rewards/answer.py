"""`answer_match`: one correctness reward for mixed question sets, graded by the check that fits
the reference's answer.

- a single yes/no word, or one option letter (A–E) and no yes/no: `closed_match`;
- otherwise, a number in the reference's answer: `numeric` (counts exact, other values within
  tolerance, linear to 0 at 4x);
- otherwise: `open_match` (token F1 with synonyms, side and negation checks).

A GRPO run over yes/no, measurement and free-text questions then rewards what each question asks,
instead of a weighted mix in which, say, `numeric` pays nothing on a yes/no question and
`open_match` pays nothing for "0.44" against "0.43". The MedSynth reasoning benchmark
(`benchmarks/reasoning.py`) counts an answer as correct when this reward is 1.
"""
from __future__ import annotations

from ..answers import answer_part, words
from . import register
from .closed import NO, YES, closed_match, decisions
from .openended import open_match
from .quantities import first_number, numeric


def kind(reference: str) -> str:
    """Which check grades answers to `reference`: "closed", "numeric" or "open"."""
    answer = answer_part(reference)
    ws = words(answer)
    yn, letters = decisions(reference)
    if (len(ws) == 1 and ws[0] in YES | NO) or (len(letters) == 1 and not yn):
        return "closed"
    return "numeric" if first_number(answer) is not None else "open"


@register("answer_match")
def answer_match(completion: str, reference: str) -> float:
    """`closed_match`, `numeric` or `open_match`, whichever fits the reference's answer (see above)."""
    return {"closed": closed_match, "numeric": numeric, "open": open_match}[kind(reference)](completion, reference)
