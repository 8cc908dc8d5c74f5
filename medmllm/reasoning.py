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


def vote(completions: list[str]) -> Reply:
    """Majority vote over the completions' normalised non-empty answers (ties: the answer seen
    first); the reply is the first completion that gave the winning answer."""
    replies = [(c, *split(c)) for c in completions]
    counts = Counter(normalise(a) for _, _, a in replies if normalise(a)) or Counter({"": len(replies)})
    best = max(counts.values())
    winner = next(normalise(a) for _, _, a in replies if counts[normalise(a)] == best)
    text, reasoning, answer = next(r for r in replies if normalise(r[2]) == winner)
    return Reply(text, reasoning, answer, votes=dict(counts), samples=list(completions))
