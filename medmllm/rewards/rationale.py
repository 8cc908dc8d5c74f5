"""`reasoning_numbers`: do the quantities stated in the reasoning match the worked rationale's?

A process reward for references that carry a worked rationale (``<think>…</think><answer>…</answer>``,
as MedSynth's reasoning questions do). Every number of the completion's reasoning (`think_part`)
is matched to at most one number of the reference's reasoning by `numeric`'s rule (units
converted, integers without a unit are counts and must be equal, other values within 5 % or
0.02); the score is the F1 of the matched pairs: ``2 m / (n_completion + n_reference)``.

So a rationale that reads "3 nodules … the left lung has 1 and the right lung 2" earns credit
for each count it gets right even when a yes/no answer is right by chance, and listing extra
numbers costs precision. `answer_match` grades only the answer; the two combine in GRPO
(`demo_grpo.yaml`). The answer block is only checked for being there. A value restated on one
side counts once: a number without a unit repeats any earlier number of that value ("11.9 cm …
11.9 / 26.9" states 11.9 cm once), one with a unit repeats an earlier one of the same size
(5 mm and 0.5 cm), so a rationale is not paid for restating; 5 mm and 5 cm stay two numbers.

0.0 when the reference's reasoning states no number (nothing to verify: in a GRPO group every
completion then scores the same, which leaves the advantages unchanged), when the completion's
reasoning is empty, or when it has no answer (an empty answer scores 0 for every reward, so
reasoning that never concludes earns nothing). Matching is greedy in reference order, a completion
number used once. Only the first 4,000 characters of each reasoning and its first 200 distinct
numbers are read, which bounds the time on degenerate text.
"""
from __future__ import annotations

from ..answers import answer_part, think_part
from . import register
from .quantities import agreement, all_numbers, in_base_units

_MAX_CHARS, _MAX_NUMBERS = 4000, 200


def _distinct(numbers: list[tuple[float, str | None, bool]]) -> list[tuple[float, str | None, bool]]:
    kept, values, sizes = [], set(), set()
    for number in numbers:
        value, unit, _ = number
        size = in_base_units(value, unit)
        if (value in values) if unit is None else (size in sizes):
            continue
        kept.append(number)
        values.add(value)
        if unit:
            sizes.add(size)
    return kept[:_MAX_NUMBERS]


@register("reasoning_numbers")
def reasoning_numbers(completion: str, reference: str) -> float:
    """F1 of the numbers in the completion's reasoning against the reference rationale's (see above)."""
    if not answer_part(completion):
        return 0.0
    ref = _distinct(all_numbers(think_part(reference)[:_MAX_CHARS]))
    ans = _distinct(all_numbers(think_part(completion)[:_MAX_CHARS]))
    if not ref or not ans:
        return 0.0
    unused = list(range(len(ans)))
    matched = 0
    for r in ref:
        hit = next((i for i in unused if agreement(ans[i], r) >= 1.0), None)
        if hit is not None:
            unused.remove(hit)
            matched += 1
    return 2 * matched / (len(ans) + len(ref))
