"""Person names without a name list: context cues, the census gazetteer, word shape and spaCy's NER.

Evidence, strongest first:

1. a cue: a title ("Dr.", "mrs"), a label ("Patient:", "Referring physician:"), a verb or a
   relative ("discussed with", "signed by", "daughter"), a credential after ("Priya Raman, MD"),
   DICOM's ``LAST^FIRST``. Cues are case-insensitive, so "seen by dr. okafor" is found;
2. a word alone: a capitalised word inside a sentence that is a census name or no English word
   ("... with Okonkwo"), a census name in any case that is no English word ("nguyen"), two census
   names side by side ("john smith");
3. the NER (``ner.py``): PERSON, ORG, GPE, LOC, FAC entities, run only on segments that hold a
   capitalised word that is neither a stop nor a clinical word.

A found name grows over the name-like words beside it ("wei" before "zhang", an initial).
Clinical words ("Mass", "Cardiomegaly") and clinical eponyms ("Kerley", "Bochdalek") are never
names by 2 or 3. Tokens come from one RE2 scan; each rule looks at a bounded window.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from .linear import compile_re, finditer, raw_spans, spans
from .ner import SEGMENT_CHARS, entities
from .places import INSTITUTION_HEAD
from .vocab import STOP, TITLES, clinical, common, english, eponym, first_name, surname

__all__ = ["person_spans"]

Span = tuple[int, int, str, int]

# a word, after the sentence end (group e) and the spaces, brackets or quotes before it, if any
_WORD_RE = compile_re(r"(?:(?P<e>[.!?;:\n\t*~])[ \t(\"']*)?(?P<v>[A-Za-z][A-Za-z']*(?:-[A-Za-z][A-Za-z']*)*)")
_CARET_RE = compile_re(r"(?:^|[^\w^])(?P<v>[A-Za-z][A-Za-z'-]*(?:\^[A-Za-z][A-Za-z'-]*)+)")
_LABEL_RE = compile_re(
    r"(?:^|[^\w])(?:patient(?:'s)?\s+name|patient|pt|name|full\s+name|referring(?:\s+(?:physician|doctor|provider|md))?|"
    r"ordering(?:\s+(?:physician|provider|md))?|attending(?:\s+physician)?|radiologist|physician|technologist|tech|"
    r"resident|fellow|provider|reader|interpreting\s+physician|author|signed|dictated|transcribed|reviewed|"
    r"verified|approved|cc|attn|contact|guardian|next\s+of\s+kin|emergency\s+contact|nurse|surgeon|pcp|"
    r"mother|father|parent|spouse|relative|informant|witness|interpreter|requested\s+by|ordered\s+by)"
    r"\s*(?P<v>:)", ignore_case=True)
_BY_RE = compile_re(
    r"(?:^|[^\w])(?:signed|dictated|reported|read|reviewed|transcribed|approved|verified|seen|examined|evaluated|"
    r"referred|ordered|interpreted|performed|authored|requested|accompanied|brought|cosigned|co-signed)"
    r"\s+(?:in\s+)?by(?P<v>)(?:$|[^\w])", ignore_case=True)
_CUE_RE = compile_re(
    r"(?:^|[^\w])(?:discussed\s+with|spoke\s+(?:with|to)|spoken\s+(?:with|to)|talked\s+(?:with|to)|communicated\s+(?:with|to)|"
    r"conveyed\s+to|relayed\s+to|(?:faxed|sent|mailed|e-?mailed|copied|forwarded|addressed|given|released)\s+to|called|paged|notified|informed|per|cc|attn|"
    r"patient|pt|wife|husband|daughter|son|mother|father|brother|sister|friend|partner|spouse|caregiver|guardian|"
    r"niece|nephew|grandson|granddaughter|grandmother|grandfather|aunt|uncle|cousin|roommate|neighbou?r|"
    r"boyfriend|girlfriend|fiancee?|named|called|radiologist|resident|attending|physician|surgeon|technologist|"
    r"fellow|provider|pcp|np)(?P<v>)(?:$|[^\w])", ignore_case=True)
# the most generic cues ("reviewed with Wagner", "faxed to jean"): only a capitalised word, an initial or a
# census name that is no common word may follow
_WITH_RE = compile_re(r"(?:^|[^\w])(?:with|to)(?P<v>)\s", ignore_case=True)
_CREDENTIAL_RE = compile_re(
    r"(?P<v>)(?:,\s*|\s+)(?:(?i:m\.d\.?|md|ph\.?d\.?|mbbs|frcr|frcpc|pa-c|rt\(r\)|crnp|dnp|facr|rn|r\.n\.|"
    r"pharmd|d\.o\.)|DO|NP|MS|MPH|PA|APRN|LPN|CNM|DDS|DMD)(?:$|[^\w])")
_INST_RE = compile_re(rf"(?i:{INSTITUTION_HEAD})")
_GROW = 3  # a name grows by at most three words each way (so a run of names costs linear time)
_SUBJECT_VERBS = frozenset("""was is has had reports reported denies denied states stated presented tolerated underwent
agreed called notified and who will would says said""".split())


@lru_cache(maxsize=200_000)
def _info(word: str) -> tuple[str, bool, bool, bool, bool, bool, bool]:
    """(lower case, stop word, clinical word, census name, eponym, capitalised, initial), computed once per word."""
    key = word.lower()
    bare = key[:-2] if key.endswith(("'s", "’s")) else key
    return (key, bare in STOP, clinical(word), first_name(word) or surname(word), eponym(word), word[:1].isupper(),
            len(word) == 1 and word.isalpha())


class _Tok(NamedTuple):
    """A word of the text and what the word lists say about it (a tuple: cheap to make a million of)."""

    start: int
    end: int
    word: str
    initial_sentence: bool
    key: str
    stop: bool
    clin: bool
    gaz: bool
    epo: bool
    cap: bool
    initial: bool


_make = tuple.__new__


def _tokens(text: str) -> list[_Tok]:
    """The words, each with whether a sentence starts there (after . ! ? ; : or a line break, not
    after an initial's period "J. Smith")."""
    out: list[_Tok] = []
    tok, sent = _WORD_RE.groupindex["v"], _WORD_RE.groupindex["e"]
    for found in raw_spans(_WORD_RE, text):
        (a, b), e = found[tok], found[sent][0]
        if e >= 0:
            initial = text[e] != "." or e < 1 or not text[e - 1].isupper() or (e >= 2 and text[e - 2].isalpha())
        else:
            initial = not out and not text[:a].strip()
        word = text[a:b]
        out.append(_make(_Tok, (a, b, word, initial) + _info(word)))
    return out


def _plain(tok: _Tok) -> bool:
    """May be part of a name when a cue says so: not a stop word, not a clinical word."""
    return (tok.initial or not (tok.stop or tok.clin)) and len(tok.word) <= 40


def _alone(text: str, toks: list[_Tok], i: int) -> bool:
    """A name by its own shape and the gazetteer (evidence 2)."""
    t = toks[i]
    if i + 1 < len(toks) and toks[i + 1].key in _SUBJECT_VERBS and _subject(text, toks, i) is not None:
        return True  # "Bhattacharya was notified.", "jericho wagner is a ...", "SOKOLOV was notified."
    if not _plain(t) or t.initial or toks[i].epo or (t.word.isupper() and len(t.word) > 1 and not t.gaz):
        return False
    if t.cap and not t.initial_sentence and (t.gaz or not english(t.word)):
        return True
    if t.gaz and not english(t.word):
        return True
    pair = [j for j in (i - 1, i + 1) if 0 <= j < len(toks) and _plain(toks[j]) and not toks[j].initial
            and _adjacent(text, toks, min(i, j))]
    if t.gaz and any(toks[j].gaz and first_name(toks[min(i, j)].word) for j in pair):
        return True  # "john smith"
    # "ximena wagner": a census name that is no common word after a word that is no English word
    return t.gaz and not common(t.word) and any(j < i and not english(toks[j].word) for j in pair)


def _named(t: _Tok) -> bool:
    """Before a credential: a plain word that looks like a name, not "covering NP" or "on-call MD"."""
    return _plain(t) and (t.initial or t.cap or (t.gaz and not common(t.word)) or not english(t.word))


def _subject(text: str, toks: list[_Tok], i: int) -> int | None:
    """The first word of a sentence-opening name of one to three words ending at toks[i] (before "was",
    "is", ...), each a census name that is no common word or no English word; None if there is none."""
    lo = i
    while True:
        t = toks[lo]
        if not _plain(t) or t.initial or not ((t.gaz and not common(t.word)) or not english(t.word)
                                             or (lo < i and t.gaz)):
            return None
        if t.initial_sentence:
            return lo
        if lo == 0 or i - lo >= 2 or not _adjacent(text, toks, lo - 1):
            return None
        lo -= 1


def _adjacent(text: str, toks: list[_Tok], i: int) -> bool:
    """toks[i] and toks[i + 1] are separated by at most three spaces, commas or carets, or by an initial's
    period ("J. Smith")."""
    a, b = toks[i].end, toks[i + 1].start
    return b - a <= 3 and all(c in " ,^\t" or (c == "." and toks[i].initial) for c in text[a:b])


def _grow(text: str, toks: list[_Tok], lo: int, hi: int, strong: bool) -> tuple[int, int]:
    """Extend toks[lo..hi] over neighbouring name-like words (capitalised, census names, initials)."""
    caps = all(toks[k].word.isupper() for k in range(lo, hi + 1))

    def namelike(t: _Tok) -> bool:
        return _plain(t) and (t.initial or (t.gaz and not common(t.word)) or (t.cap and not t.word.isupper())
                              or ((strong or caps or not t.word.isupper()) and not english(t.word)))

    first, last = lo, hi
    while lo > 0 and first - lo < _GROW and _adjacent(text, toks, lo - 1) and namelike(toks[lo - 1]) \
            and toks[lo - 1].key not in TITLES:
        lo -= 1
    while hi + 1 < len(toks) and hi - last < _GROW and _adjacent(text, toks, hi) and namelike(toks[hi + 1]):
        hi += 1
    return lo, hi


def _take(text: str, toks: list[_Tok], i: int, strong: bool, generic: bool = False,
          title: bool = False) -> tuple[int, int] | None:
    """The name starting at toks[i] after a cue: up to four plain words (strong cue) or name-like ones."""
    if i < len(toks) and toks[i].key in TITLES:  # "called Dr. X": one title, not a run of them
        i += 1
    if i >= len(toks) or toks[i].epo or not (_plain(toks[i]) or (title and toks[i].cap and not toks[i].stop)):
        return None  # after a title a capitalised clinical word may be a name too ("Mr. Hu")
    t = toks[i]
    initial = t.initial and text[t.end:t.end + 1] == "."
    if generic and not (initial or (t.cap and not t.word.isupper()) or (t.gaz and not common(t.word))
                        or (t.word.isupper() and len(t.word) > 4 and not english(t.word))):
        return None
    if not strong and not (initial or (t.cap and not t.word.isupper()) or (t.gaz and not common(t.word))
                           or (not english(t.word) and (not t.word.isupper() or len(t.word) > 4))):
        return None
    hi = i
    while hi + 1 < len(toks) and hi - i < 3 and _plain(toks[hi + 1]) and toks[hi + 1].key not in TITLES:
        gap = text[toks[hi].end:toks[hi + 1].start]
        if not (gap.strip() in ("", ",", "^") or (toks[hi].initial and gap.strip() == ".")) or len(gap) > 3:
            break
        nxt = toks[hi + 1]
        if strong and toks[hi].initial and gap.strip() == ".":  # "resident: l. hill"
            hi += 1
            continue
        if not ((nxt.gaz and not common(nxt.word)) or nxt.initial or (nxt.cap and not nxt.word.isupper())
                or not english(nxt.word) or (t.word.isupper() and nxt.word.isupper() and not nxt.stop)):
            break  # "Prof. Schmidt agreed": the cue vouches for the first word only
        hi += 1
    return i, hi


def _index(toks: list[_Tok], pos: int) -> int:
    """The first token starting at or after ``pos`` (binary search)."""
    lo, hi = 0, len(toks)
    while lo < hi:
        mid = (lo + hi) // 2
        if toks[mid].start < pos:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _candidate(toks: list[_Tok], i: int) -> bool:
    """A word the NER should look at: capitalised, plain, and inside a sentence or no English word."""
    t = toks[i]
    return (t.cap and _plain(t) and not t.initial and not toks[i].epo and len(t.word) > 1
            and not (t.word.isupper() and not t.gaz) and (not t.initial_sentence or not english(t.word)))


def _ner_spans(text: str, toks: list[_Tok]) -> list[Span]:
    flags = [_candidate(toks, i) for i in range(len(toks))]
    segments, first = [], 0
    for i in range(1, len(toks) + 1):
        if i == len(toks) or toks[i].initial_sentence or toks[i].end - toks[first].start > SEGMENT_CHARS:
            if any(flags[first:i]):
                segments.append((toks[first].start, text[toks[first].start:toks[i - 1].end + 1]))
            first = i
    out: list[Span] = []
    for label, a, b in entities(segments):
        lo, hi = _index(toks, a), _index(toks, b) - 1
        while lo <= hi and not _plain(toks[lo]):
            lo += 1
        while hi >= lo and not _plain(toks[hi]):
            hi -= 1
        if lo > hi or not any(flags[lo:hi + 1]):
            continue
        start, end = toks[lo].start, toks[hi].end - (2 if toks[hi].key.endswith("'s") else 0)
        kind = {"PERSON": "NAME", "ORG": "NAME"}.get(label, "ADDRESS")
        if label == "ORG" and _INST_RE.search(text[start:end]) is not None:
            kind = "HOSPITAL"
        out.append((start, end, kind, 8))
    return out


def person_spans(text: str, ner: bool = True) -> list[Span]:
    """Candidate NAME spans (and the NER's places and organisations) in ``text``."""
    toks = _tokens(text)
    found: list[tuple[int, int, bool]] = []  # token ranges, and whether a cue found them
    for i, t in enumerate(toks):
        if t.key in TITLES and (text[t.end:t.end + 1] in (".", " ") or t.end == len(text)):
            if (got := _take(text, toks, i + 1, True, title=True)) is not None:
                found.append((*got, True))
        elif _alone(text, toks, i):
            first = _subject(text, toks, i) if i + 1 < len(toks) and toks[i + 1].key in _SUBJECT_VERBS else None
            found.append((i if first is None else first, i, False))
    for regex, strong in ((_LABEL_RE, True), (_BY_RE, True), (_CUE_RE, False), (_WITH_RE, False)):
        for m in finditer(regex, text):
            end = m.end("v")
            firm = strong or text[end:end + 1] in (",", ":")  # "The patient, ivan hu, is ..."
            if (got := _take(text, toks, _index(toks, end), firm, regex is _WITH_RE)) is not None:
                found.append((*got, firm))
    for m in finditer(_CREDENTIAL_RE, text):
        hi = _index(toks, m.start("v")) - 1
        lo = hi
        while lo > 0 and hi - lo < 2 and _named(toks[lo - 1]) and toks[lo - 1].key not in TITLES \
                and _adjacent(text, toks, lo - 1):
            lo -= 1
        if hi >= 0 and _named(toks[hi]) and toks[hi].end >= m.start("v") - 1:
            found.append((lo, hi, True))
    out: list[Span] = []
    reach = -1  # the last word inside a name grown so far
    for lo, hi, strong in sorted(found):
        if hi <= reach:  # inside the name grown just before (a run of names): nothing new to find
            continue
        lo, hi = _grow(text, toks, lo, hi, strong)
        reach = max(reach, hi)
        end = toks[hi].end - (2 if toks[hi].key.endswith("'s") else 0)  # "Lindqvist's film": keep the 's
        out.append((toks[lo].start, end, "NAME", 6 if strong else 7))
    out += [(a, b, "NAME", 6) for a, b in spans(_CARET_RE, text, "v")]
    if ner:
        out += _ner_spans(text, toks)
    return out
