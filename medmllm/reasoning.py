"""Chain-of-thought at inference: split `<think>…</think><answer>…</answer>` outputs, force a model
to think first, and self-consistency (several sampled answers, majority vote).

Models trained on worked rationales (MedSynth's reasoning questions) write their reasoning inside
`<think>` and their answer inside `<answer>`. `think=True` starts the answer with `<think>` (a
prefilled prefix), so such a model always reasons first. Unfinished tags are tolerated: a
completion cut off inside `<answer>` still yields its answer, one cut off inside `<think>` yields
its reasoning and an empty answer.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

THINK_PREFIX = "<think>"
_THINK = re.compile(r"<think>(.*?)(?:</think>|<answer>|$)", re.S)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)
_NORMALISE = re.compile(r"[^\w\s.%-]")


@dataclass
class Reply:
    """One answer: the full text, its reasoning and its answer; with self-consistency, the votes."""

    text: str
    reasoning: str
    answer: str
    votes: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)


def split(text: str) -> tuple[str, str]:
    """(reasoning, answer) of a completion. Without tags the whole text is the answer; with a
    `<think>` block but no `<answer>` tag, the text after `</think>` is the answer."""
    think = _THINK.search(text)
    answer = _ANSWER.search(text)
    reasoning = think.group(1).strip() if think else ""
    if answer:
        return reasoning, answer.group(1).strip()
    if think:
        rest = text.split("</think>", 1)
        return reasoning, rest[1].strip() if len(rest) == 2 else ""
    return "", text.strip()


def normalise(answer: str) -> str:
    """What votes are counted on: lowercase, punctuation removed (decimal points and % kept), spaces folded."""
    return " ".join(_NORMALISE.sub(" ", answer.lower()).split()).strip(" .")


_NUMERIC = re.compile(r"(-?\d+(?:\.\d+)?) ?(%|[a-z]+)?")


def _agree(a: str, b: str) -> bool:
    """Two normalised answers count as the same vote: equal, or both one number (same unit, if any)
    within the `numeric` reward's tolerance of each other (5%, or 0.02 for values up to 1)."""
    if a == b:
        return True
    ma, mb = _NUMERIC.fullmatch(a), _NUMERIC.fullmatch(b)
    if not (ma and mb) or ma.group(2) != mb.group(2):
        return False
    x, y = float(ma.group(1)), float(mb.group(1))
    tol = max(0.05 * max(abs(x), abs(y)), 0.02 if max(abs(x), abs(y)) <= 1 else 0.0)
    return abs(x - y) <= tol


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
