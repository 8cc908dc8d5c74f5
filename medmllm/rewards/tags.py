"""`format`: is the completion exactly `<think>…</think><answer>…</answer>`?

1.0  each of the four tags exactly once (tags are matched case-insensitively when counted, so
     `<ANSWER>` counts as a duplicate, but only lowercase tags pass), in the order think, /think,
     answer, /answer, both blocks non-empty (not just whitespace), nothing outside them except
     whitespace (before, between and after the blocks: `<think>…</think>\\n<answer>…</answer>`
     passes).
0.5  (``partial``) the same, except that there is other text outside the blocks.
0.0  anything else: a missing, duplicated, unclosed or out-of-order tag, an empty block,
     uppercase tags, a nested tag.
"""
from __future__ import annotations

from ..answers import ANY_TAG
from . import register

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


@register("format")
def format_reward(completion: str, reference: str = "", *, partial: float = 0.5) -> float:
    """1.0 for exactly `<think>…</think><answer>…</answer>`, ``partial`` when text lies outside; else 0."""
    text = completion or ""
    found = ANY_TAG.findall(text)
    if found != list(_TAGS):  # each tag exactly once, in order, lowercase, no variants
        return 0.0
    i = [text.index(t) for t in _TAGS]
    think = text[i[0] + len(_TAGS[0]):i[1]]
    answer = text[i[2] + len(_TAGS[2]):i[3]]
    if not think.strip() or not answer.strip():
        return 0.0
    outside = text[:i[0]] + text[i[1] + len(_TAGS[1]):i[2]] + text[i[3] + len(_TAGS[3]):]
    return 1.0 if not outside.strip() else float(partial)
