"""``scrub_text``: every detector's candidate spans, merged, replaced by placeholders.

Candidates come from ``patterns.py`` (dates, ages, contacts, network addresses, IDs), ``places.py``
(addresses, institutions), ``people.py`` (names, and the NER's places and organisations) and a
user's name list (``namelist.py``). They are merged left to right: the earliest start wins, then the
longest span, then the stronger rule; a span that overlaps the previous one and reaches further
extends it (so no part of an identifier is left behind), and neighbouring names, addresses or
institutions separated by spaces only become one placeholder.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass

from ...errors import MedMLLMError
from .namelist import NameList
from .patterns import structured_spans
from .people import person_spans
from .places import place_spans

__all__ = ["Finding", "scrub_text", "PLACEHOLDERS", "MAX_TEXT_CHARS"]

PLACEHOLDERS = {"NAME": "[NAME]", "DATE": "[DATE]", "ID": "[ID]", "PHONE": "[PHONE]", "EMAIL": "[EMAIL]",
                "AGE": "[AGE>89]", "ADDRESS": "[ADDRESS]", "HOSPITAL": "[HOSPITAL]", "URL": "[URL]", "IP": "[IP]"}
#: the longest text one call accepts (characters); ``max_chars`` overrides it per call
MAX_TEXT_CHARS = 10_000_000
_JOIN = {"NAME": (" ", "^"), "ADDRESS": (" ", ", ", ","), "HOSPITAL": (" ",)}


@dataclass(frozen=True)
class Finding:
    """One scrubbed span of the *original* text: ``text[start:end]`` was replaced by ``[kind]``.

    ``value`` is the original string; it is for in-memory review only and is never written to
    an audit log by this package.
    """

    kind: str
    start: int
    end: int
    value: str

    def __repr__(self) -> str:  # keep the PHI out of casual prints / logs
        return f"Finding(kind={self.kind!r}, start={self.start}, end={self.end})"


def _merge(text: str, candidates: list[tuple[int, int, str, int]]) -> list[list]:
    chosen: list[list] = []  # [start, end, kind]
    for start, end, kind, _prio in sorted(candidates, key=lambda s: (s[0], -(s[1] - s[0]), s[3])):
        if chosen and start < chosen[-1][1]:
            chosen[-1][1] = max(chosen[-1][1], end)
            continue
        if chosen and chosen[-1][2] == kind and text[chosen[-1][1]:start] in _JOIN.get(kind, ()):
            chosen[-1][1] = end
            continue
        chosen.append([start, end, kind])
    return chosen


def scrub_text(text: str, names: Iterable[str] | None = None, *, max_chars: int | None = None,
               where: str = "text", ner: bool = True) -> tuple[str, list[Finding]]:
    """Replace PHI in ``text`` with placeholders; return ``(clean_text, findings)``.

    Args:
        text: the report text.
        names: extra names to remove wherever they appear (full names case-insensitively, each part
            of a multi-word name when capitalised), e.g. from :func:`load_names`.
        max_chars: refuse longer texts (default :data:`MAX_TEXT_CHARS`) with a one-line
            ``MedMLLMError`` that starts with ``where``.
        ner: run the statistical detector (spaCy) too; ``False`` leaves rules and lists only.

    Findings are sorted by position and refer to offsets in the original ``text``.
    """
    if not isinstance(text, str):
        raise TypeError(f"scrub_text expects a str, got {type(text).__name__}")
    limit = MAX_TEXT_CHARS if max_chars is None else max_chars
    if len(text) > limit:
        raise MedMLLMError(f"{where}: text of {len(text):,} characters is over the limit of {limit:,} "
                           f"(raise max_chars / --max-chars to scrub it)")
    enabled = gc.isenabled()
    gc.disable()  # the scan allocates a tuple per word: without the cyclic collector walking the heap each
    try:          # time, a megabyte costs half as much in a process that holds a large heap (the CLI)
        candidates = structured_spans(text) + place_spans(text) + person_spans(text, ner=ner)
        listed = NameList(names or [])
        if listed:
            candidates += [(a, b, "NAME", 5) for a, b in listed.spans(text)]
    finally:
        if enabled:
            gc.enable()
    pieces: list[str] = []
    findings: list[Finding] = []
    pos = 0
    for start, end, kind in _merge(text, candidates):
        pieces.append(text[pos:start])
        pieces.append(PLACEHOLDERS[kind])
        findings.append(Finding(kind, start, end, text[start:end]))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces), findings
