"""`closed_match`: the yes/no or option-letter decision of the answer equals the reference's.

Yes/no: the answer's words are looked up in `YES` and `NO` ("Yes.", "YES", "yes, there is" are
all yes). Options A–E: "B", "(b)", "B.", "B)", "Option B", "choice b", "the answer is B",
"answer: (B)"; an uppercase standalone letter also counts ("B and C" names two), except an "A"
followed by a word (the article in "A pneumothorax is present"). Lowercase letters count only
in brackets, after option/choice/answer, or as the whole answer.

Score 1.0 when the answer names exactly one decision of the reference's kind and it equals the
reference's; 0.0 when it names none, names both yes and no, names two options, or differs.
A reference without a decision (neither yes/no nor a letter) scores 0.0 for every completion.
"""
from __future__ import annotations

import re

from ..answers import answer_part, words
from . import register

YES = frozenset({"yes", "yeah", "yep", "yup", "true", "correct", "affirmative"})
NO = frozenset({"no", "nope", "false", "incorrect"})

_LETTER = re.compile(r"(?<![\w'])(\()?([A-Ea-e])(\))?(?![\w'])")
_CUE = re.compile(r"(?:\b(?:option|choice|answer(?:\s+is)?)\s*[:\-]?\s*)$", re.I)
_WORD_AFTER = re.compile(r"\s+([A-Za-z]+)")


def _letters(answer: str) -> set[str]:
    whole = re.fullmatch(r"\s*\(?([A-Ea-e])\s*[.):]?\s*", answer)
    if whole:
        return {whole.group(1).upper()}
    found = set()
    for m in _LETTER.finditer(answer):
        letter = m.group(2)
        bracketed = m.group(1) is not None and m.group(3) is not None
        cued = _CUE.search(answer[:m.start()]) is not None
        if letter in "Aa" and not bracketed and m.group(3) is None:
            nxt = _WORD_AFTER.match(answer, m.end())
            if nxt and nxt.group(1).lower() not in {"and", "or"}:
                continue  # the article: "A pneumothorax", "the answer is a nodule"
        if bracketed or cued or letter.isupper():
            found.add(letter.upper())
    return found


def decisions(text: str) -> tuple[set[str], set[str]]:
    """({'yes'} / {'no'} / both / neither, {option letters}) named by the answer part of ``text``."""
    answer = answer_part(text)
    ws = set(words(answer))
    yn = ({"yes"} if ws & YES else set()) | ({"no"} if ws & NO else set())
    return yn, _letters(answer)


@register("closed_match")
def closed_match(completion: str, reference: str) -> float:
    """1.0 when the completion's single yes/no or option decision equals the reference's, else 0.0."""
    ref_yn, ref_letters = decisions(reference)
    if len(ref_yn) == 1:
        return float(decisions(completion)[0] == ref_yn)
    if len(ref_letters) == 1:
        return float(decisions(completion)[1] == ref_letters)
    return 0.0
