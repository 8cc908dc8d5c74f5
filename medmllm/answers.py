"""The answer text of a completion: where `<think>` reasoning ends and the `<answer>` begins, the
words of an answer, and when two numbers agree. A leaf module (no medmllm imports, no torch) that
the rewards, the eval metrics and the inference-time reasoning all read answers with.

Two extractions, on purpose, because their callers need different things:

- **Strict** (`answer_part`, `think_part`) is for rewards, which must never grade the reasoning:
  a completion that writes "yes" in its `<think>` and "no" as its answer must score as "no".
  Tags are matched case-insensitively. With `<answer>` tags only their content counts (every
  block, joined with " ; ", so an answer hedged over two blocks is seen as hedged; an unclosed
  tag runs to the end); without them, `<think>` blocks are removed (an unclosed `<think>`
  swallows the rest, and text before a lone `</think>` is reasoning whose opening tag the chat
  template prefilled). Leftover tags become spaces.
- **Lenient** (`extract_answer`, `split`) is for metrics and for showing a reply: it reads the
  first `<answer>` block (an unclosed one runs to the end; tags are lowercase only) and, when
  there is no `<answer>` tag, takes the whole text, as the published VQA and report conventions
  the metrics reproduce do with untagged model output. `split` adds the reasoning (the first
  `<think>` block) and, with `<think>` but no `<answer>`, takes the text after `</think>` as the
  answer.

Both scan blocks with one helper (`_blocks`), in linear time whatever the text (the rewards run on
sampled, possibly degenerate, completions).

Numbers agree within ``tolerance(ref) = max(REL_TOL * |ref|, ABS_TOL if |ref| <= 1 else 0)``:
5 %, or 0.02 for values up to 1 (so 0.43 ± 0.0215, 25 mm ± 1.25 mm). The `numeric` reward scores
with it and self-consistency voting counts answers that agree as one.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

REL_TOL = 0.05
ABS_TOL = 0.02

#: Any `<think>`, `</think>`, `<answer>` or `</answer>` tag, in any case, with spaces inside.
ANY_TAG = re.compile(r"</?\s*(?:think|answer)\s*>", re.I)
_PUNCT = re.compile(r"[^\w\s]")


def _blocks(text: str, haystack: str, opener: str, closers: tuple[str, ...]) -> Iterator[str]:
    """The content of each `opener` block of ``text``, up to the nearest of ``closers`` or the end;
    the next block is looked for from there. Tags are searched in ``haystack`` (``text`` itself,
    or its lowercase for case-insensitive tags; positions are shared, so a lowercase that changes
    the length, as "İ" does, shifts the slices). Linear time: each closer's next position is
    remembered until the scan passes it, so no stretch of text is searched twice for it."""
    ahead = dict.fromkeys(closers, -2)  # closer -> its next position at or after the scan; -1: none left
    i = haystack.find(opener)
    while i != -1:
        start = i + len(opener)
        for closer, at in ahead.items():
            if at != -1 and at < start:
                ahead[closer] = haystack.find(closer, start)
        ends = [at for at in ahead.values() if at != -1]
        stop = min(ends) if ends else len(haystack)  # past the end of haystack: no further block
        yield text[start:stop]
        i = haystack.find(opener, stop)


# -- strict: rewards ------------------------------------------------------------------------------
def answer_part(text: str | None) -> str:
    """The answer of a completion or reference for grading (strict; see the module docstring);
    '' when there is none."""
    if not text:
        return ""
    low = text.lower()
    if "<answer>" in low:
        answer = " ; ".join(_blocks(text, low, "<answer>", ("</answer>",)))
    else:
        answer = " ".join(_outside_think(text, low))
    return ANY_TAG.sub(" ", answer).strip()


def _outside_think(text: str, low: str) -> list[str]:
    """The pieces of ``text`` outside its `<think>` blocks; an unclosed one swallows the rest, and
    with a `</think>` but no `<think>` (prefilled) everything up to the last `</think>` is reasoning."""
    pieces, i = [], 0
    close = low.rfind("</think>")
    if close != -1 and low.find("<think>") == -1:
        i = close + len("</think>")
    while True:
        j = low.find("<think>", i)
        if j == -1:
            pieces.append(text[i:])
            return pieces
        pieces.append(text[i:j])
        k = low.find("</think>", j)
        if k == -1:  # unclosed think: the rest is reasoning
            return pieces
        i = k + len("</think>")


def think_part(text: str | None) -> str:
    """The reasoning of a completion or reference (strict): the content of its `<think>` blocks (an
    unclosed one runs to the next `<answer>` or the end); with no `<think>` but a `</think>`
    (prefilled by the chat template), everything before the first `</think>`; else ''."""
    if not text:
        return ""
    low = text.lower()
    if "<think>" not in low:
        close = low.find("</think>")
        return "" if close == -1 else ANY_TAG.sub(" ", text[:close]).strip()
    return ANY_TAG.sub(" ", " ".join(_blocks(text, low, "<think>", ("</think>", "<answer>")))).strip()


# -- lenient: metrics and replies -----------------------------------------------------------------
def _first(text: str, opener: str, closers: tuple[str, ...]) -> str | None:
    """The stripped content of the first `opener` block (lowercase tags only), None without one."""
    block = next(_blocks(text, text, opener, closers), None)
    return None if block is None else block.strip()


def extract_answer(text: str) -> str:
    """The text inside the first <answer>...</answer> (an unclosed tag too), else the whole text (lenient)."""
    answer = _first(text, "<answer>", ("</answer>",))
    return text.strip() if answer is None else answer


def split(text: str) -> tuple[str, str]:
    """(reasoning, answer) of a completion (lenient). Without tags the whole text is the answer; with
    a `<think>` block but no `<answer>` tag, the text after the first `</think>` is the answer."""
    reasoning = _first(text, "<think>", ("</think>", "<answer>"))
    answer = _first(text, "<answer>", ("</answer>",))
    if answer is not None:
        return reasoning or "", answer
    if reasoning is not None:
        rest = text.split("</think>", 1)
        return reasoning, rest[1].strip() if len(rest) == 2 else ""
    return "", text.strip()


# -- words and numbers ----------------------------------------------------------------------------
def words(text: str) -> list[str]:
    """Lowercase words with punctuation turned into spaces."""
    return _PUNCT.sub(" ", text.lower()).split()


def tolerance(ref: float, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> float:
    """How far a number may be from ``ref`` and still agree: ``rel_tol * |ref|``, and at least
    ``abs_tol`` when ``|ref| <= 1``."""
    return max(rel_tol * abs(ref), abs_tol if abs(ref) <= 1 else 0.0)
