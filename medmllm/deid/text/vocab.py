"""Word lists the name, place and institution rules consult, each loaded once.

- ``STOP``: function words, titles, report words and placeholders: never part of a name.
- ``clinical(word)``: the hand-written clinical vocabulary (``clinical_words.txt``), its plain
  inflections and prefixed forms ("retrocardiac" = retro + cardiac): never a name, place or
  institution, whatever the gazetteer or the NER says.
- ``eponym(word)``: eponyms used as clinical terms ("Kerley", "Hill-Sachs", "Smith fracture").
- ``first_name`` / ``surname``: the US Census 1990 lists (public domain; ``census_names.txt.gz``:
  all 5,163 first names, the 40,000 most frequent surnames).
- ``english(word)``: WordNet's lemma index as shipped in the spaCy model's lemmatizer (83k
  lemmas; it holds many proper names too: "jones", "wagner"). A lower-case or sentence-initial
  word alone is a name only when it is no English word at all.
- ``common(word)``: the stricter test used beside a cue or another name: a verb, adjective or
  adverb lemma, or a noun that is no census name ("hair" is common, "wagner" and "jean" are not).
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

__all__ = ["STOP", "TITLES", "clinical", "eponym", "first_name", "surname", "english", "common", "gazetteer"]

TITLES = frozenset("dr drs doctor mr mrs ms miss mx prof professor nurse sister rev fr sr".split())

STOP = frozenset("""
a an and the this that these those there here he she they it we i you his her their its our your no not none
is was are were be been being has have had will would should can could may might must shall do does did
of on in at to for from by with without within into onto upon over under about after before between during
as or nor but if then than so such also only very more most less least both each either neither all any some
patient patients pt pts name findings finding impression impressions history indication indications technique
comparison comparisons exam examination study studies report reports result results conclusion conclusions
recommendation recommendations clinical note notes addendum procedure procedures view views image images
signed dictated reported read reviewed approved verified transcribed electronically final preliminary
attending radiologist resident fellow physician physicians referring ordering technologist tech provider
discussed communicated called referred see seen follow up followup emergency department er ed icu clinic
service medicine surgery radiology cardiology oncology neurology pathology md m.d do d.o rn phd mbbs frcr
frcpc np pa pa-c rt yes unknown n/a na male female man woman men women year years old age aged sex gender
am pm via per re cc dob mrn id acc accession ssn phone tel fax email e-mail date time room bed ward unit floor
xxxx x xx xxx today yesterday tomorrow now prior previous previously current currently new old
please thank thanks regards sincerely dear hello hi
one two three four five six seven eight nine ten
first second third last next same other another again well
day days week weeks month months year years hour hours minute minutes
dea npi upin vin udi imei mac fin csn har certificate license licence insurance policy account serial device implant
vehicle plate social security member medicare medicaid fingerprint retinal scan photo record number address contact
pager fax phone portal workstation node symptoms registration
""".split()) | TITLES

_PREFIXES = ("retro", "peri", "para", "infra", "supra", "sub", "intra", "inter", "extra", "trans", "post", "pre",
             "hyper", "hypo", "hemi", "bi", "uni", "multi", "poly", "pan", "pseudo", "non", "un", "anti", "endo",
             "epi", "mid", "re", "de", "dis", "over", "costo", "cardio", "broncho", "pleuro", "thoraco", "osteo",
             "neuro", "gastro", "hepato", "spleno", "nephro", "vaso", "micro", "macro", "semi", "ante", "postero",
             "antero", "infero", "supero", "medio", "latero")
_SUFFIXES = ("s", "es", "ed", "d", "ing", "al", "ally", "ly", "ic", "ity", "ies", "y", "ness", "ation", "ment")


def _words(section: str) -> frozenset[str]:
    text = resources.files(__package__).joinpath("clinical_words.txt").read_text(encoding="utf-8")
    out, current = set(), "clinical"
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif line and not line.startswith("#") and current == section:
            out.update(line.lower().split())
    return frozenset(out)


@cache
def _clinical_set() -> frozenset[str]:
    return _words("clinical")


@cache
def _eponym_set() -> frozenset[str]:
    return _words("eponyms")


def _stems(word: str) -> list[str]:
    """The word and its forms without one plain suffix ("calcified" -> "calcifi", "calcifie" ...)."""
    out = [word]
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            stem = word[: -len(suf)]
            out += [stem, stem + "e", stem + "y", stem + "ion", stem + "ic"]
            if len(stem) > 3 and stem[-1] == stem[-2]:
                out.append(stem[:-1])  # "transferred" -> "transfer"
    if word.endswith("ied"):
        out.append(word[:-3] + "y")
    return out


@cache
def clinical(word: str) -> bool:
    """A clinical or report word, possibly inflected or prefixed; digits and one-letter tokens count."""
    w = word.lower().strip(".'’-")
    if len(w) <= 1 or any(c.isdigit() for c in w):
        return True
    vocab = _clinical_set()
    if any(s in vocab for s in _stems(w)):
        return True
    if "-" in w:
        return all(clinical(part) or part in STOP for part in w.split("-") if part)
    for pre in _PREFIXES:
        if w.startswith(pre) and len(w) - len(pre) >= 4 and clinical(w[len(pre):]):
            return True
    return False


def eponym(word: str) -> bool:
    w = word.lower().strip(".'’-")
    w = w[:-2] if w.endswith("'s") or w.endswith("’s") else w
    return w in _eponym_set() or ("-" in w and all(p in _eponym_set() for p in w.split("-") if p))


@cache
def gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames), lower case."""
    raw = resources.files(__package__).joinpath("census_names.txt.gz").read_bytes()
    first, last = set(), set()
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        if line.startswith("f "):
            first.add(line[2:])
        elif line.startswith("l "):
            last.add(line[2:])
    return frozenset(first), frozenset(last)


def _key(word: str) -> str:
    w = word.lower().strip(".'’")
    return w[:-2] if w.endswith("'s") or w.endswith("’s") else w


def first_name(word: str) -> bool:
    return _key(word) in gazetteer()[0]


def surname(word: str) -> bool:
    w = _key(word)
    return w in gazetteer()[1] or ("-" in w and all(p in gazetteer()[1] for p in w.split("-") if p))


@cache
def _english_set() -> frozenset[str]:
    from .ner import lemma_index

    return lemma_index()


@cache
def english(word: str) -> bool:
    """An English lemma (WordNet via the spaCy model), after stripping one plain suffix."""
    vocab = _english_set()
    w = word.lower().strip(".'’")
    if "-" in w:
        return all(english(part) for part in w.split("-") if part)
    return any(s in vocab for s in _stems(w))


@cache
def common(word: str) -> bool:
    """An English word that is not also a person's name: a verb, adjective or adverb lemma, or a noun that
    is no census name ("hair" but not "wagner", "jones" or "jean", which WordNet lists as nouns)."""
    from .ner import lemma_parts

    other, nouns = lemma_parts()
    w = word.lower().strip(".'’")
    if "-" in w:
        return all(common(part) for part in w.split("-") if part)
    if w in other:
        return True
    if first_name(w) or surname(w):  # "morales" is a name even though "morale" is a noun
        return False
    return any(s in other or s in nouns for s in _stems(w))
