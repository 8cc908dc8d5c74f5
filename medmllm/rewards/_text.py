"""Shared text helpers for the rewards: the answer part of a completion and word normalisation.

`answer_part` is stricter than `medmllm.eval.metrics.extract_answer` because a reward must not
grade the reasoning: with `<answer>` tags only their content counts (every block, joined, so an
answer hedged over two blocks is seen as hedged; an unclosed tag runs to the end); without them,
`<think>` blocks are removed (an unclosed `<think>` swallows the rest, and text before a lone
`</think>` is reasoning whose opening tag was prefilled by the chat template). Linear time.
"""
from __future__ import annotations

import re

_TAG = re.compile(r"</?\s*(?:think|answer)\s*>", re.I)
_PUNCT = re.compile(r"[^\w\s]")


def _find(low: str, tag: str, start: int = 0) -> int:
    return low.find(tag, start)


def answer_part(text: str | None) -> str:
    """The answer of a completion or reference (see the module docstring); '' when there is none."""
    if not text:
        return ""
    low = text.lower()
    if "<answer>" in low:
        blocks, i = [], _find(low, "<answer>")
        while i != -1:
            start = i + len("<answer>")
            end = _find(low, "</answer>", start)
            stop = len(text) if end == -1 else end
            blocks.append(text[start:stop])
            i = -1 if end == -1 else _find(low, "<answer>", end)
        answer = " ; ".join(blocks)
    else:
        pieces, i = [], 0
        close = low.rfind("</think>")
        if close != -1 and _find(low, "<think>") == -1:  # prefilled "<think>": all before is reasoning
            i = close + len("</think>")
        while True:
            j = _find(low, "<think>", i)
            if j == -1:
                pieces.append(text[i:])
                break
            pieces.append(text[i:j])
            k = _find(low, "</think>", j)
            if k == -1:  # unclosed think: the rest is reasoning
                break
            i = k + len("</think>")
        answer = " ".join(pieces)
    return _TAG.sub(" ", answer).strip()


def words(text: str) -> list[str]:
    """Lowercase words with punctuation turned into spaces."""
    return _PUNCT.sub(" ", text.lower()).split()


def think_part(text: str | None) -> str:
    """The reasoning of a completion or reference: the content of its ``<think>`` blocks (an
    unclosed one runs to the next ``<answer>`` or the end); with no ``<think>`` but a ``</think>``
    (prefilled by the chat template), everything before the first ``</think>``; else ''."""
    if not text:
        return ""
    low = text.lower()
    i = _find(low, "<think>")
    if i == -1:
        close = _find(low, "</think>")
        return "" if close == -1 else _TAG.sub(" ", text[:close]).strip()
    blocks = []
    while i != -1:
        start = i + len("<think>")
        ends = [e for e in (_find(low, "</think>", start), _find(low, "<answer>", start)) if e != -1]
        stop = min(ends) if ends else len(text)
        blocks.append(text[start:stop])
        i = _find(low, "<think>", stop)
    return _TAG.sub(" ", " ".join(blocks)).strip()
