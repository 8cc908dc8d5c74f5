"""Rule-based CheXpert labeler: phrase mentions, clause-scoped negation/uncertainty cues, aggregation.

Pipeline (after stanfordmlgroup/chexpert-labeler, with NegBio's dependency-graph patterns replaced
by the cue rules of :mod:`.rules`):

1. clean like upstream ``loader/load.py`` (lowercase, ``and/or`` -> ``or``, ``a/b`` -> ``a or b``,
   a space after commas) and split into sentences (``.``/``?``/``!`` before a space, newlines);
2. find mentions with the phrase lists of :mod:`.phrases` (unmention overlaps dropped);
3. give each mention the label of the first stage whose cue scopes over it: pre-negation
   uncertainty (-1), negation (0), post-negation uncertainty (-1), else positive (1);
4. aggregate per report like upstream ``stages/aggregate.py``: positive beats uncertain beats
   negative across the mentions of one observation; a positive/uncertain "chf"/"heart failure"
   adds Cardiomegaly -1; No Finding is 1 when no mention of any observation other than Support
   Devices (the "No Finding" phrase list included, e.g. emphysema, granuloma) is positive or
   uncertain, else None (never 0, as upstream).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

from . import phrases as P
from .rules import ADJ_STOP, COMPILED, NEGATION, POST_UNCERTAIN, PRE_UNCERTAIN, STABLE, Cue

Label = Optional[int]

_TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[^\sa-z0-9]")
_BOUNDARY_WORDS = frozenset({";", ":", "but", "however", "although", "though", "whereas", "except", "which",
                             "while", "nevertheless", "nonetheless", "whose", "(", ")"})
_FINITE = frozenset({"is", "are", "was", "were", "has", "have", "had", "remains", "remain", "appears", "appear",
                     "demonstrates", "shows", "show", "seen", "noted", "identified", "persists", "persist"})
_THERE_VERBS = frozenset({"is", "are", "was", "were", "has", "have", "remains", "remain", "appears", "appear"})
_BWD_STOP = ("with", "without", "there")


def _alternation(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in sorted(patterns, key=len, reverse=True)))


_MENTION_RE = {obs: _alternation(ph) for obs, ph in P.MENTION.items()}
_UNMENTION_RE = {obs: _alternation(ph) for obs, ph in P.UNMENTION.items()}


@dataclass(frozen=True)
class Mention:
    observation: str
    text: str
    start: int  # first token
    end: int  # one past the last token
    label: int = 1


def clean(text: str) -> str:
    """Lowercase and normalise like upstream's Loader.clean (plus a few shorthands)."""
    t = text.lower()
    t = re.sub(r"\bs/p\b", "status post", t)
    t = re.sub(r"\bw/o\b", "without", t)
    t = re.sub(r"\bw/(?=\s|[a-z])", "with ", t)
    t = re.sub(r"\br/o\b", "rule out", t)
    t = t.replace("and/or", "or")
    t = re.sub(r"(?<=[a-z])/(?=[a-z])", " or ", t)
    t = re.sub(r"\b(vs|e\.g|i\.e|approx|dr|no)\.(?=\s+[a-z0-9])", lambda m: m.group(1).replace(".", ""), t)
    t = re.sub(r"\.{2,}", ".", t)
    t = re.sub(r",(?=\S)", ", ", t)
    t = re.sub(r"\.(?=[a-z])", ". ", t)
    return re.sub(r"[ \t\r\f\v]+", " ", t)


def sentences(text: str) -> list[str]:
    """Cleaned sentences of a report (split at . ? ! before whitespace and at newlines)."""
    out = []
    for line in clean(text).split("\n"):
        out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if s.strip())
    return out


def _boundaries(words: list[str]) -> set[int]:
    """Token indices that end a negation/uncertainty scope."""
    b = {i for i, w in enumerate(words) if w in _BOUNDARY_WORDS}
    for i, w in enumerate(words):  # ", there is ..." / "and there are ..." starts a clause
        if w == "there" and i + 1 < len(words) and words[i + 1] in _THERE_VERBS and i > 0 and words[i - 1] in (
                ",", "and"):
            b.add(i)
    cuts = sorted(b | {-1, len(words)})
    for i, w in enumerate(words):  # "and" between two finite clauses
        if w != "and":
            continue
        lo = max(c for c in cuts if c < i)
        hi = min(c for c in cuts if c > i)
        if _FINITE & set(words[lo + 1:i]) and _FINITE & set(words[i + 1:hi]):
            b.add(i)
    return b


def _tok_index(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    first = next((k for k, (s, e) in enumerate(spans) if e > start), len(spans))
    last = next((k for k in range(len(spans) - 1, -1, -1) if spans[k][0] < end), first)
    return first, max(last + 1, first + 1)


def _applies(cue: Cue, cs: int, ce: int, m: Mention, words: list[str], bounds: set[int], structural: bool) -> bool:
    if cue.only and m.observation not in cue.only:
        return False
    if cue.direction != "adj" and cs < m.end and m.start < ce:
        return True
    fwd_ok = cue.direction in ("fwd", "both", "adj") and ce <= m.start
    bwd_ok = cue.direction in ("bwd", "both", "adj") and m.end <= cs
    if not (fwd_ok or bwd_ok):
        return False
    gap = range(ce, m.start) if fwd_ok else range(m.end, cs)
    if len(gap) > cue.window or any(i in bounds for i in gap):
        return False
    gap_words = [words[i] for i in gap]
    if cue.direction == "adj":
        if bwd_ok and gap_words[-1:] == [","]:
            gap_words = gap_words[:-1]
        return not any(w in ADJ_STOP for w in gap_words)
    stop = cue.stop if fwd_ok else cue.stop + _BWD_STOP
    if not cue.lists and not structural:
        stop = stop + (",",)
    return not any(w in stop for w in gap_words)


def _sentence_mentions(sent: str) -> list[Mention]:
    found = list(_TOKEN.finditer(sent))
    words = [m.group(0) for m in found]
    spans = [m.span() for m in found]
    if not words:
        return []
    raw: list[tuple[str, str, int, int]] = []
    for obs, rx in _MENTION_RE.items():
        unm = [u.span() for u in _UNMENTION_RE[obs].finditer(sent)] if obs in _UNMENTION_RE else []
        for m in rx.finditer(sent):
            s, e = m.span()
            if any(s < ue and e > us for us, ue in unm):
                continue
            raw.append((obs, m.group(0), *_tok_index(spans, s, e)))
    if not raw:
        return []
    cues: list[tuple[Cue, int, int]] = []
    taken: list[tuple[int, int, str]] = []
    for cue, rx in COMPILED:  # a cue overlapping an earlier cue of another kind is dropped
        for m in rx.finditer(sent):
            s, e = m.span()
            if any(s < te and e > ts and kind != cue.kind for ts, te, kind in taken):
                continue
            if cue.blocks:
                taken.append((s, e, cue.kind))
            cues.append((cue, *_tok_index(spans, s, e)))
    bounds = _boundaries(words)
    out = []
    for obs, text, s, e in raw:
        m = Mention(obs, text, s, e)
        out.append(Mention(obs, text, s, e, _classify(m, cues, words, bounds)))
    return out


def _classify(m: Mention, cues: list[tuple[Cue, int, int]], words: list[str], bounds: set[int]) -> int:
    structural = m.observation in (P.CARDIOMEGALY, P.ENLARGED_CM) and m.text not in P.STRUCTURAL_EXCEPT
    for stage, label in ((PRE_UNCERTAIN, -1), (NEGATION, 0), (POST_UNCERTAIN, -1)):
        for cue, cs, ce in cues:
            if cue.kind == stage and _applies(cue, cs, ce, m, words, bounds, structural):
                if cue.direction == "adj" and _or_is_negated(cs, cues, bounds):
                    continue
                return label
    if (m.observation, m.text) in P.ALWAYS_UNCERTAIN:
        return -1
    if structural and any(cue.kind == STABLE and _applies(cue, cs, ce, m, words, bounds, structural)
                          for cue, cs, ce in cues):
        return -1
    return 1


def _or_is_negated(cs: int, cues: list[tuple[Cue, int, int]], bounds: set[int]) -> bool:
    """True when "or" is inside a negation or "no change in" of the same clause ("no change in A or B")."""
    return any(c.kind in (NEGATION, STABLE) and c.blocks and c.direction != "bwd" and e <= cs and
               not any(i in bounds for i in range(e, cs)) for c, s, e in cues)


def mentions(text: str) -> list[Mention]:
    """Every labeled mention in a report (for inspection and debugging)."""
    return [m for sent in sentences(text) for m in _sentence_mentions(sent)]


def aggregate(found: Iterable[Mention]) -> dict[str, Label]:
    """Upstream aggregation, with the documented precedence positive > uncertain > negative."""
    per: dict[str, list[int]] = {}
    no_finding = True
    for m in found:
        if m.observation != P.SUPPORT_DEVICES and m.label in (1, -1):
            no_finding = False
        if m.observation == P.NO_FINDING:
            continue
        if m.label in (1, -1) and m.text in P.HEART_FAILURE:
            per.setdefault(P.CARDIOMEGALY, []).append(-1)
        per.setdefault(m.observation, []).append(m.label)
    out: dict[str, Label] = {}
    for obs in P.OBSERVATIONS:
        if obs == P.NO_FINDING:
            out[obs] = 1 if no_finding else None
        elif obs not in per:
            out[obs] = None
        else:
            labels = per[obs]
            out[obs] = 1 if 1 in labels else (-1 if -1 in labels else 0)
    return out


def label(text: str) -> dict[str, Label]:
    """The 14 CheXpert observations of one report: 1 positive, 0 negative, -1 uncertain, None not mentioned."""
    if not isinstance(text, str):
        raise TypeError(f"label() needs a str, got {type(text).__name__}")
    return aggregate(mentions(text))


def label_many(texts: Iterable[str]) -> list[dict[str, Label]]:
    """``label`` for each report, in order."""
    return [label(t) for t in texts]
