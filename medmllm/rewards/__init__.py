"""Verifiable rewards for GRPO, registered by name; every module in this folder registers its own.

A reward is ``fn(completion: str, reference: str) -> float`` in [0, 1]. ``reference`` may be a
full reasoning answer (``<think>…</think><answer>0.43</answer>``) or just the answer; both sides
are graded on their answer part (see ``medmllm.answers.answer_part``: the content of the
``<answer>`` blocks, else the text outside ``<think>`` blocks), so reasoning is not graded, except by
``reasoning_numbers``, which checks the quantities a rationale states. An empty or
whitespace-only answer scores 0.0 everywhere.

Built in:

=============== ============================================================================
``format``        1.0 for exactly ``<think>…</think><answer>…</answer>``; 0.5 with text outside
``closed_match``  yes/no or option letter A–E equals the reference's (hedged answers score 0)
``open_match``    token F1 after normalisation and a medical synonym table; a wrong or missing
                  side (left/right/bilateral), or a negation the reference lacks, scores 0
``numeric``       first number vs the reference's: 1.0 within tolerance, linear to 0 at 4×
``report_labels`` agreement of the 14 CheXpert labels over observations either text mentions
``answer_match``  whichever of closed_match / numeric / open_match fits the reference's answer
``reasoning_numbers`` F1 of the numbers in the reasoning against a worked rationale's (a process
                  reward: the one reward that reads `<think>`; 0 when the reference has no rationale)
=============== ============================================================================

    >>> import medmllm
    >>> medmllm.rewards.get("numeric")("<think>…</think><answer>0.44</answer>", "0.43")
    1.0
    >>> reward = medmllm.rewards.combine({"format": 1, "closed_match": 3})   # weights normalised
    >>> reward("<think>CTR 0.62 > 0.5</think><answer>yes</answer>", "yes")
    1.0
    >>> reward.scores("<think>CTR 0.62 > 0.5</think><answer>no</answer>", "yes")   # each reward
    {'format': 1.0, 'closed_match': 0.0}

Register your own the same way (the name must be new):

    >>> @medmllm.rewards.register("length_penalty")
    ... def length_penalty(completion: str, reference: str) -> float:
    ...     return 1.0 if len(completion) < 2000 else 0.0

``combine`` returns a `Combined`: the combined reward, its normalised ``weights``, and
``scores(completion, reference)``, every weighted reward's value, which it averages (GRPO logs
them beside the combined value without grading twice). It calls every reward with
``(completion, reference)`` only, so each uses its keyword defaults (``numeric``:
``rel_tol=0.05, abs_tol=0.02, count=None``, from `medmllm.answers`; ``format``: ``partial=0.5``).
For other settings register a partial under a new name and combine that:
``register("numeric_1pct")(functools.partial(medmllm.rewards.numeric, rel_tol=0.01))``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from ..errors import MedMLLMError
from ..registry import Registry, import_modules

Reward = Callable[[str, str], float]

REWARDS: Registry[Reward] = Registry("reward")
register = REWARDS.register
get = REWARDS.get


def names() -> list[str]:
    """Registered reward names, sorted."""
    return REWARDS.names()


def checked(name: str, value: float) -> float:
    """``value`` as a float; a `MedMLLMError` naming reward ``name`` when it lies outside [0, 1] (NaN too)."""
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also catches NaN
        raise MedMLLMError(f"reward {name!r} returned {value}, outside [0, 1]")
    return value


class Combined:
    """`combine`'s reward: ``weights`` (normalised, zero weights dropped), ``scores`` (each weighted
    reward's value) and, called, their weighted mean clamped to [0, 1]."""

    def __init__(self, parts: list[tuple[str, Reward, float]]):
        self._parts = parts
        self.weights = {name: w for name, _, w in parts}
        self.__name__ = "combined_" + "_".join(self.weights)

    def scores(self, completion: str, reference: str) -> dict[str, float]:
        """{name: value} of every weighted reward, each checked to lie in [0, 1]."""
        return {name: checked(name, fn(completion, reference)) for name, fn, _ in self._parts}

    def mean(self, scores: Mapping[str, float]) -> float:
        """The weighted mean of ``scores`` (as `scores` returns them; other names are ignored), clamped to [0, 1]."""
        return min(1.0, max(0.0, sum(w * scores[name] for name, w in self.weights.items())))

    def __call__(self, completion: str, reference: str) -> float:
        return self.mean(self.scores(completion, reference))

    def __repr__(self) -> str:
        return f"Combined({self.weights})"


def combine(weights: Mapping[str, float]) -> Combined:
    """One reward: the weighted mean of the named rewards (weights are normalised to sum to 1).

    Unknown names raise the registry's one-line `MedMLLMError` (listing the known names); so do
    negative, non-finite or all-zero weights. Zero-weight rewards are never called. Each reward
    runs with its keyword defaults; a value outside [0, 1] raises `MedMLLMError` naming it.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise MedMLLMError("combine needs a non-empty {reward name: weight} mapping")
    parts: list[tuple[str, Reward, float]] = []
    for name, weight in weights.items():
        fn = get(name)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise MedMLLMError(f"reward weight for {name!r} must be a finite number, got {weight!r}")
        if weight < 0:
            raise MedMLLMError(f"reward weight for {name!r} is negative ({weight}); weights must be >= 0")
        if weight > 0:
            parts.append((name, fn, float(weight)))
    total = sum(w for _, _, w in parts)
    if total <= 0:
        raise MedMLLMError(f"reward weights are all zero ({', '.join(weights)}); give at least one a positive weight")
    return Combined([(name, fn, w / total) for name, fn, w in parts])


import_modules(__name__, __path__)  # registration is by folder: every module registers its rewards

from .answer import answer_match  # noqa: E402
from .closed import closed_match  # noqa: E402
from .labels import report_labels  # noqa: E402
from .openended import open_match  # noqa: E402
from .quantities import numeric  # noqa: E402
from .rationale import reasoning_numbers  # noqa: E402
from .tags import format_reward  # noqa: E402

__all__ = ["REWARDS", "Combined", "Reward", "answer_match", "checked", "closed_match", "combine", "format_reward",
           "get", "names", "numeric", "open_match", "reasoning_numbers", "register", "report_labels"]
