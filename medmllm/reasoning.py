"""Chain-of-thought at inference: split `<think>…</think><answer>…</answer>` outputs, force a model
to think first, and self-consistency (several sampled answers, majority vote).

Models trained on worked rationales (MedSynth's reasoning questions) write their reasoning inside
`<think>` and their answer inside `<answer>`. `think=True` starts the answer with `<think>` (a
prefilled prefix), so such a model always reasons first. Replies are split by
`medmllm.answers.split`, which tolerates unfinished tags: a completion cut off inside `<answer>`
still yields its answer, one cut off inside `<think>` yields its reasoning and an empty answer.
Votes agree on numbers within `medmllm.answers.tolerance`, the `numeric` reward's.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .answers import split, tolerance

THINK_PREFIX = "<think>"
_NORMALISE = re.compile(r"[^\w\s.%-]")


@dataclass
class Reply:
    """One answer: the full text, its reasoning and its answer; with self-consistency, the votes."""

    text: str
    reasoning: str
    answer: str
    votes: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)


def normalise(answer: str) -> str:
    """What votes are counted on: lowercase, punctuation removed (decimal points and % kept), spaces folded."""
    return " ".join(_NORMALISE.sub(" ", answer.lower()).split()).strip(" .")


_NUMERIC = re.compile(r"(-?\d+(?:\.\d+)?) ?(%|[a-z]+)?")


def _agree(a: str, b: str) -> bool:
    """Two normalised answers count as the same vote: equal, or both one number (same unit, if any)
    within `answers.tolerance` of the larger (the `numeric` reward's: 5%, or 0.02 up to 1)."""
    if a == b:
        return True
    ma, mb = _NUMERIC.fullmatch(a), _NUMERIC.fullmatch(b)
    if not (ma and mb) or ma.group(2) != mb.group(2):
        return False
    x, y = float(ma.group(1)), float(mb.group(1))
    return abs(x - y) <= tolerance(max(abs(x), abs(y)))


def vote(completions: list[str]) -> Reply:
    """Majority vote over the completions' normalised non-empty answers: each answer's support is
    the number of answers that agree with it (equal, or for numbers within tolerance, so sampled
    measurements such as 0.43 / 0.44 / 0.45 back one another); the most supported wins, ties to the
    answer seen first. The reply is the first completion that gave the winning answer."""
    replies = [(c, *split(c)) for c in completions]
    counts = Counter(normalise(a) for _, _, a in replies if normalise(a)) or Counter({"": len(replies)})
    support = {a: sum(n for b, n in counts.items() if _agree(a, b)) for a in counts}
    best = max(support.values())
    winner = next(normalise(a) for _, _, a in replies if support.get(normalise(a)) == best)
    text, reasoning, answer = next(r for r in replies if normalise(r[2]) == winner)
    return Reply(text, reasoning, answer, votes=dict(counts), samples=list(completions))
