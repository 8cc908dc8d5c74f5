"""Every regular expression that runs on user text goes through here, compiled by RE2.

RE2 (PyPI ``google-re2``) matches with automata, never by backtracking, so a search is linear in
the length of the text whatever the pattern and the input: the quadratic and exponential cases of
Python's ``re`` (a 60 kB crafted line took 22-25 s in the old scrubber) cannot occur. RE2 has no
look-arounds or back-references; the patterns consume one context character instead
(``(?:^|[^\\w])(?P<v>...)``) and the callers check the character after a match in Python.
Matching is leftmost-longest, so the order of alternatives never cuts a match short.

The text is scanned as an ASCII proxy of the same length: every non-ASCII character becomes one
ASCII character of its class (a letter ``a``/``A``, a digit ``0``, a space, a quote or dash, else
``~``), so offsets are the text's own, the patterns can use ASCII classes, and each match costs one
call into RE2 (the ``re2`` module's own ``finditer`` spends ~20 us of Python per match, which a
megabyte of "a@b." turns into seconds). The proxy of the last text is kept, so the ~40 patterns
of one call share one conversion.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator

import re2

__all__ = ["Regex", "Match", "compile_re", "finditer", "spans", "raw_spans"]

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20  # room for the DFA of the larger alternations (month names, labels)
_OPTIONS.longest_match = True  # leftmost-longest: "3/14" is not cut to "3/1" by the order of alternatives
_UNANCHORED = re2._Anchor.UNANCHORED
_NULL = (-1, -1)


class _Proxy(dict):
    """``str.translate`` table: ASCII maps to itself; other characters to one ASCII character of their class."""

    def __missing__(self, code: int) -> int:
        ch = chr(code)
        cat = unicodedata.category(ch)
        if cat[0] == "L":
            out = "A" if ch.isupper() else "a"
        elif cat == "Nd":
            out = "0"
        elif cat[0] == "Z" or ch in "\u200b\ufeff":
            out = " "
        elif ch in "\u2018\u2019\u02bc\u00b4":
            out = "'"
        elif ch in "\u2010\u2011\u2012\u2013\u2014\u2212":
            out = "-"
        else:
            out = "~"
        self[code] = ord(out)
        return self[code]


_TABLE = _Proxy((i, i) for i in range(128))
_last: tuple[str | None, bytes] = (None, b"")


def _ascii(text: str, keep: bool = True) -> bytes:
    """The ASCII proxy of ``text``; the last one ``keep``-ed is reused (one tuple, so threads see a pair)."""
    global _last
    last = _last
    if last[0] is text:
        return last[1]
    data = (text if text.isascii() else text.translate(_TABLE)).encode("ascii")
    if keep:
        _last = (text, data)
    return data


class Regex:
    """An RE2 pattern and its group numbers by name."""

    __slots__ = ("pattern", "_re", "groupindex")

    def __init__(self, pattern: str, ignore_case: bool = False):
        self.pattern = ("(?i)" if ignore_case else "") + pattern
        compiled = re2.compile(self.pattern, _OPTIONS)
        self._re = compiled._regexp
        self.groupindex = dict(compiled.groupindex)

    def search(self, text: str) -> Match | None:
        """The first match in a short string (the proxy of the scanned text is kept)."""
        data = _ascii(text, keep=False)
        spans = self._re.Match(_UNANCHORED, data, 0, len(data))
        return None if spans[0] == _NULL else Match(text, spans, self)

    def fullmatch(self, text: str) -> bool:
        data = _ascii(text, keep=False)
        return self._re.Match(re2._Anchor.ANCHOR_BOTH, data, 0, len(data))[0] != _NULL


class Match:
    """One match: ``span(g)``, ``start(g)``, ``end(g)``, ``group(g)`` by group name or number."""

    __slots__ = ("text", "spans", "regex")

    def __init__(self, text: str, spans: tuple, regex: Regex):
        self.text, self.spans, self.regex = text, spans, regex

    def span(self, g: str | int = 0) -> tuple[int, int]:
        return self.spans[self.regex.groupindex[g] if isinstance(g, str) else g]

    def start(self, g: str | int = 0) -> int:
        return self.span(g)[0]

    def end(self, g: str | int = 0) -> int:
        return self.span(g)[1]

    def group(self, g: str | int = 0) -> str | None:
        a, b = self.span(g)
        return None if a < 0 else self.text[a:b]


def compile_re(pattern: str, ignore_case: bool = False) -> Regex:
    """Compile ``pattern`` with RE2 (``(?i)`` prefixed when ``ignore_case``)."""
    return Regex(pattern, ignore_case)


def finditer(regex: Regex, text: str) -> Iterator[Match]:
    """Non-overlapping matches, left to right, in one pass over the text."""
    for found in raw_spans(regex, text):
        yield Match(text, found, regex)


def spans(regex: Regex, text: str, group: str | int = 0,
          check: Callable[[str, int, int], bool] | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of ``group`` in each match; ``check(text, start, end)`` may reject one."""
    g = regex.groupindex[group] if isinstance(group, str) else group
    for m in finditer(regex, text):
        start, end = m.spans[g]
        if start < 0 or start == end:
            continue
        if check is None or check(text, start, end):
            yield start, end


def raw_spans(regex: Regex, text: str) -> Iterator[tuple]:
    """Each non-overlapping match's tuple of group spans (group 0 first), left to right, in one pass
    over the text: one call into RE2 per match, no match object (for scans that match at every word)."""
    data = _ascii(text)
    pos, end, match = 0, len(data), regex._re.Match
    while pos <= end:
        found = match(_UNANCHORED, data, pos, end)
        if found[0] == _NULL:
            return
        yield found
        pos = found[0][1] if found[0][1] > pos else pos + 1
