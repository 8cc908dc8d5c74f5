"""Every regular expression that runs on user text goes through here, compiled by RE2.

RE2 (PyPI ``google-re2``) matches with automata, never by backtracking, so a search is linear in
the length of the text whatever the pattern and the input: the quadratic and exponential cases of
Python's ``re`` (a 60 kB crafted line took 22-25 s in the old scrubber) cannot occur. RE2 has no
look-arounds or back-references; the patterns consume one context character instead
(``(?:^|[^\\d])(?P<v>...)``) and the callers check the character after a match in Python.

Only :func:`spans` is used to scan text: ``finditer`` encodes the text once and walks it once.
(``search(text, pos)`` in a loop would re-encode the whole text on every call and be quadratic.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import re2

__all__ = ["compile_re", "spans", "span", "Pattern"]

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20  # room for the DFA of the larger alternations (month names, labels)
_OPTIONS.longest_match = True  # leftmost-longest: "3/14" is not cut to "3/1" by the order of alternatives

Pattern = re2._Regexp


def compile_re(pattern: str, ignore_case: bool = False) -> Pattern:
    """Compile ``pattern`` with RE2 (``(?i)`` prefixed when ``ignore_case``)."""
    return re2.compile(("(?i)" if ignore_case else "") + pattern, _OPTIONS)


def span(m, group: str | int = 0) -> tuple[int, int]:
    """``m.span(group)`` by name or number (the RE2 wrapper's ``span`` takes numbers only); (-1, -1) if unset."""
    return m.span(m.re.groupindex[group] if isinstance(group, str) else group)


def spans(regex: Pattern, text: str, group: str | int = 0,
          check: Callable[[str, int, int], bool] | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of ``group`` in each non-overlapping match, in one linear pass.

    ``check(text, start, end)`` may reject a span (e.g. a date followed by another digit).
    """
    for m in regex.finditer(text):
        start, end = span(m, group)
        if start < 0 or start == end:
            continue
        if check is None or check(text, start, end):
            yield start, end
