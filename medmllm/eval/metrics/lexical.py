"""Report-generation lexical metrics that reproduce the reference libraries to 1e-6.

BLEU-1..4, ROUGE-L and CIDEr-D follow pycocoevalcap 1.2 (pure Python here, no Java); METEOR runs
pycocoevalcap's meteor-1.5.jar (`rougeL_rouge_score*` and `bleu4_sacrebleu`, as rouge-score and
sacrebleu compute them, are in `libraries.py`).  Every metric is
``fn(preds, refs, *, tokenize=...) -> (corpus score, per-sample scores)``; `refs` holds one string
or a list of reference strings per sample.  `tokenize` is one of `ptb` (pycocoevalcap's
PTBTokenizer, reproduced in Python), `r2gen` / `r2gen_iu` (R2Gen's report cleaning) or `none`.

Edge cases (the references crash on some of them): an empty prediction or reference scores 0
(ROUGE-L, CIDEr-D) or gets BLEU's 1e-15/1e-9 smoothing exactly as pycocoevalcap computes it; a
sample with no reference at all is scored against one empty reference; no samples gives
(nan, []).  CIDEr-D where no reference has any n-gram scores 0 (pycocoevalcap raises there).

`report_scores(preds, refs, tokenize=..., metrics=("bleu", "rougeL", "ciderD"))` computes BLEU-1..4,
ROUGE-L and CIDEr-D together from one tokenisation and one n-gram pass; the single-metric
functions call into it and share that pass through a small cache (the last two sets scored).
"""
from __future__ import annotations

import gc
import math
from collections import _count_elements  # the C helper behind Counter.update
from itertools import chain, compress, repeat
from operator import gt, itemgetter
from functools import lru_cache
from typing import Sequence

from ...errors import MedMLLMError
from . import CONVENTIONS, METRICS
from ._tokenize import TOKENIZERS, tokenize as _tokenize

Refs = Sequence[str] | Sequence[Sequence[str]]


# ------------------------------------------------------------------------------ input handling
def _ref_lists(preds: Sequence[str], refs: Refs) -> list[list[str]]:
    if len(preds) != len(refs):
        raise MedMLLMError(f"metrics: {len(preds)} predictions but {len(refs)} references")
    out = []
    for r in refs:
        if isinstance(r, str):
            out.append([r])
        else:
            r = [x if isinstance(x, str) else str(x) for x in r]
            out.append(r or [""])
    return out


@lru_cache(maxsize=16)
def _tok_cached(texts: tuple[str, ...], how: str) -> tuple[str, ...]:
    return tuple(_tokenize(list(texts), how))


def _prepare(preds: Sequence[str], refs: Refs, how: str) -> tuple[tuple[str, ...], list[list[str]]]:
    """Tokenised hypotheses and references, as pycocoevalcap's pipeline hands them to the scorers:
    all references form one tokenizer stream (sample order), all predictions another."""
    if how not in TOKENIZERS:
        raise MedMLLMError(f"tokenize={how!r}: choose from {', '.join(TOKENIZERS)}")
    ref_lists = _ref_lists(preds, refs)
    hyps = _tok_cached(tuple(p if isinstance(p, str) else str(p) for p in preds), how)
    flat = _tok_cached(tuple(r for rs in ref_lists for r in rs), how)
    out, k = [], 0
    for rs in ref_lists:
        out.append(list(flat[k:k + len(rs)]))
        k += len(rs)
    return hyps, out


# ------------------------------------------------------------------------------ n-gram statistics
# n-grams are keyed by their words joined with one space (words come from str.split(), so the key
# is unambiguous and different orders never collide).  Per distinct tokenised text: the set of
# n-grams of each order, the counts of the n-grams that occur more than once (usually few), and
# the number of words.  Clipped counts and tf-idf dot products are then set intersections (in C)
# plus a correction over the repeated n-grams.
_EMPTY: dict = {}


def _text_stats(text: str) -> tuple[list[set], list[dict], int]:
    w = text.split()
    j = " ".join
    sets, dups = [], []
    for g in (w, list(map(j, zip(w, w[1:]))), list(map(j, zip(w, w[1:], w[2:]))),
              list(map(j, zip(w, w[1:], w[2:], w[3:])))):
        st = set(g)
        sets.append(st)
        if len(st) == len(g):
            dups.append(_EMPTY)
        else:  # the repeated n-grams with their counts, filtered in C
            cnt: dict = {}
            _count_elements(cnt, g)
            dups.append(dict(compress(cnt.items(), map(gt, cnt.values(), repeat(1)))))
    return sets, dups, len(w)


_BITS = 15  # token ids below 2**15 pack four of them into one int64 n-gram key


def _corpus_stats(texts: list[str]) -> dict[str, tuple[list[set], list[dict], int]]:
    """`_text_stats` of every distinct text, with each n-gram as one integer (its token ids packed
    15 bits apiece), computed for the whole corpus at once with numpy: the metrics only compare
    n-grams for equality, so integer keys give the same scores at a fraction of the hashing cost.
    Falls back to space-joined strings when the vocabulary has 2**15 words or more."""
    import numpy as np

    words = [t.split() for t in texts]
    vocab = dict.fromkeys(chain.from_iterable(words))
    if len(vocab) >= 1 << _BITS:
        return {t: _text_stats(t) for t in texts}
    vocab = dict(zip(vocab, range(1, len(vocab) + 1)))
    lengths = list(map(len, words))
    flat = np.fromiter(map(vocab.__getitem__, chain.from_iterable(words)), dtype=np.int64, count=sum(lengths))
    packed = [flat]
    for k in range(1, 4):  # order k + 1: ids[i] | ids[i+1] << 15 | ...; crossings of text ends are never sliced
        packed.append(packed[-1][:-1] | (flat[k:] << (_BITS * k)) if len(flat) > k else flat[:0])
    packed = [p.tolist() for p in packed]  # slicing Python lists is cheaper than many small numpy slices
    out: dict[str, tuple] = {}
    start = 0
    for text, n in zip(texts, lengths):
        sets, dups = [], []
        for k in range(4):
            g = packed[k][start:start + n - k] if n > k else []
            st = set(g)
            sets.append(st)
            if len(st) == len(g):
                dups.append(_EMPTY)
            else:
                cnt: dict = {}
                _count_elements(cnt, g)
                dups.append(dict(compress(cnt.items(), map(gt, cnt.values(), repeat(1)))))
        out[text] = (sets, dups, n)
        start += n
    return out


class _Corpus:
    """Tokenised predictions and references of one call with their n-gram statistics; the
    metrics computed from it are kept, so calling the metrics one by one costs one pass."""

    def __init__(self, hyps: tuple[str, ...], refs: list[list[str]]):
        self.hyps, self.refs = hyps, refs
        stats = _corpus_stats(list(dict.fromkeys([*hyps, *(r for rs in refs for r in rs)])))
        self.hst = [stats[h] for h in hyps]
        self.rst = [[stats[r] for r in rs] for rs in refs]
        self.results: dict[str, tuple] = {}


@lru_cache(maxsize=2)
def _corpus(hyps: tuple[str, ...], refs: tuple[tuple[str, ...], ...]) -> _Corpus:
    return _Corpus(hyps, [list(r) for r in refs])


# ------------------------------------------------------------------------------ BLEU (pycocoevalcap)
def _bleu_all(c: _Corpus) -> tuple[list[float], list[list[float]]]:
    n, tiny, small = 4, 1e-15, 1e-9
    tot_guess, tot_correct = [0] * n, [0] * n
    tot_test = tot_ref = 0
    per: list[list[float]] = [[] for _ in range(n)]
    for (hs, hd, testlen), rsts in zip(c.hst, c.rst):
        if len(rsts) == 1:
            rs, rd, rlen = rsts[0]
            reflen = rlen
            correct = []
            for k in range(n):
                rsk = rs[k]
                ck = len(hs[k] & rsk)
                for g, cnt in hd[k].items():  # repeated hypothesis n-grams: clip at the ref count
                    if g in rsk:
                        m = rd[k].get(g, 1)
                        ck += (cnt if cnt < m else m) - 1
                correct.append(ck)
        else:
            reflen = min((abs(r[2] - testlen), r[2]) for r in rsts)[1]  # Bleu passes 'closest'
            correct = []
            for k in range(n):
                union = set().union(*(r[0][k] for r in rsts))
                ck = len(hs[k] & union)
                for g, cnt in hd[k].items():
                    if g in union:
                        m = max(r[1][k].get(g, 1) if g in r[0][k] else 0 for r in rsts)
                        ck += (cnt if cnt < m else m) - 1
                correct.append(ck)
        tot_test += testlen
        tot_ref += reflen
        bleu = 1.0
        for k in range(n):
            guess = testlen - k if testlen > k else 0
            tot_guess[k] += guess
            tot_correct[k] += correct[k]
            bleu *= (float(correct[k]) + tiny) / (float(guess) + small)
            per[k].append(bleu ** (1.0 / (k + 1)))
        ratio = (testlen + tiny) / (reflen + small)
        if ratio < 1:
            bp = math.exp(1 - 1 / ratio)
            for k in range(n):
                per[k][-1] *= bp
    corpus, bleu = [], 1.0
    for k in range(n):
        bleu *= float(tot_correct[k] + tiny) / (tot_guess[k] + small)
        corpus.append(bleu ** (1.0 / (k + 1)))
    ratio = (tot_test + tiny) / (tot_ref + small)
    if ratio < 1:
        bp = math.exp(1 - 1 / ratio)
        corpus = [b * bp for b in corpus]
    return corpus, per


# ------------------------------------------------------------------------------ LCS (bit-parallel)
def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (Hyyro's bit-vector algorithm)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[str, int] = {}
    bit = 1
    for x in a:
        masks[x] = masks.get(x, 0) | bit
        bit <<= 1
    full = bit - 1
    v = full
    # bits above len(a) never flow down (carries go up, v - u never borrows as u is within v),
    # so the mask is applied once at the end
    for m in map(masks.get, b):
        if m:
            u = v & m
            v = (v + u) | (v - u)
    return len(a) - (v & full).bit_count()


def _rouge_all(c: _Corpus) -> tuple[float, list[float]]:
    beta2 = 1.2 ** 2
    per = []
    split: dict[str, list[str]] = {}
    for hyp, rs in zip(c.hyps, c.refs):
        tc = hyp.split(" ")
        pmax = rmax = 0.0
        for r in rs:
            tr = split.get(r)
            if tr is None:
                tr = split[r] = r.split(" ")
            lcs = lcs_length(tr, tc)
            pmax = max(pmax, lcs / float(len(tc)))
            rmax = max(rmax, lcs / float(len(tr)))
        per.append(((1 + beta2) * pmax * rmax) / float(rmax + beta2 * pmax) if pmax != 0 and rmax != 0 else 0.0)
    return (math.fsum(per) / len(per) if per else float("nan")), per


# ------------------------------------------------------------------------------ CIDEr-D (pycocoevalcap)
def _cider_all(c: _Corpus) -> tuple[float, list[float]]:
    n, sigma = 4, 6.0
    nsamp = len(c.hyps)
    df: dict = {}  # document frequency: in how many samples' references an n-gram occurs
    for rsts in c.rst:
        if len(rsts) == 1:
            for st in rsts[0][0]:
                _count_elements(df, st)
        else:
            _count_elements(df, set().union(*(st for r in rsts for st in r[0])))
    ref_len = math.log(float(nsamp))
    # idf(g)^2 = (log N - log max(1, df))^2 is log(N)^2 for every n-gram that occurs in at most one
    # sample; only the others ("common") need a look-up.  A sum of idf^2 over a set of n-grams is
    # log(N)^2 * (size - common ones) + the sum over its intersection with the common ones (set
    # operations and map(), in C).  An all-zero idf still gives exactly 0 (norm 0: no division).
    base = ref_len * ref_len
    idf2_by_df = [(ref_len - math.log(max(1.0, float(d)))) ** 2 for d in range(nsamp + 1)]
    common = list(compress(df.items(), map(gt, df.values(), repeat(1))))
    cw = dict(zip(map(itemgetter(0), common), map(idf2_by_df.__getitem__, map(itemgetter(1), common))))
    cw_keys, cw_get = cw.keys(), cw.get

    def idf2(g: str) -> float:
        return cw_get(g, base)

    def idf2_sum(st: set) -> float:
        ci = cw_keys & st
        return base * (len(st) - len(ci)) + sum(map(cw.__getitem__, ci))

    norms: dict[tuple[int, int], float] = {}

    def norm(st: tuple, k: int) -> float:
        # the norm only matters when a dot product is not 0: computed on first need, once per
        # distinct text and order (many 3- and 4-gram dot products are 0)
        key = (id(st), k)
        nm = norms.get(key)
        if nm is None:
            s2 = idf2_sum(st[0][k])
            for g, cnt in st[1][k].items():
                s2 += (cnt * cnt - 1) * idf2(g)
            nm = norms[key] = math.sqrt(s2)
        return nm

    two_s2 = 2 * sigma ** 2
    per = []
    for hst, rsts in zip(c.hst, c.rst):
        hs, hd, hlen = hst
        lh = hlen - 1 if hlen > 1 else 0  # pycocoevalcap's "length" counts bigrams
        total = 0.0
        for rst in rsts:
            rs, rd, rlen = rst
            lr = rlen - 1 if rlen > 1 else 0
            delta = float(lh - lr)
            pen = math.e ** (-(delta ** 2) / two_s2)
            for k in range(n):
                rsk = rs[k]
                inter = hs[k] & rsk
                if not inter:
                    continue
                val = idf2_sum(inter)
                hdk, rdk = hd[k], rd[k]
                if hdk or rdk:  # repeated n-grams: min(tf_h, tf_r) * tf_r instead of 1
                    for g, th in hdk.items():
                        if g in rsk:
                            tr = rdk.get(g, 1)
                            val += ((th if th < tr else tr) * tr - 1) * idf2(g)
                    for g, tr in rdk.items():
                        if g not in hdk and g in inter:
                            val += (tr - 1) * idf2(g)
                nh, nr = norm(hst, k), norm(rst, k)
                if nh != 0 and nr != 0:
                    val /= nh * nr
                total += val * pen
        per.append(total / n / len(rsts) * 10.0)
    return math.fsum(per) / len(per), per


# ------------------------------------------------------------------------------ all at once
REPORT_SCORES = ("bleu", "rougeL", "ciderD")


def _computed(c: _Corpus, metric: str) -> tuple:
    r = c.results.get(metric)
    if r is None:
        r = c.results[metric] = {"bleu": _bleu_all, "rougeL": _rouge_all, "ciderD": _cider_all}[metric](c)
    return r


def report_scores(preds: Sequence[str], refs: Refs, *, tokenize: str = "ptb",
                  metrics: Sequence[str] = REPORT_SCORES) -> dict[str, tuple[float, list[float]]]:
    """BLEU-1..4, ROUGE-L and CIDEr-D (pycocoevalcap 1.2) from one tokenisation and one n-gram
    pass: {"bleu1".."bleu4", "rougeL", "ciderD": (corpus score, per-sample scores)}, the same
    values as the single-metric functions.  `metrics` picks among "bleu" (all four orders),
    "rougeL" and "ciderD"."""
    for m in metrics:
        if m not in REPORT_SCORES:
            raise MedMLLMError(f"report_scores: unknown metric {m!r}; choose from {', '.join(REPORT_SCORES)}")
    # the passes below allocate some 10^4 small containers and create no reference cycles: the
    # cyclic garbage collector would only re-scan them (~10% of the time); it is paused meanwhile
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _report_scores(preds, refs, tokenize, metrics)
    finally:
        if paused:
            gc.enable()


def _report_scores(preds: Sequence[str], refs: Refs, tokenize: str,
                   metrics: Sequence[str]) -> dict[str, tuple[float, list[float]]]:
    hyps, rl = _prepare(preds, refs, tokenize)
    out: dict[str, tuple[float, list[float]]] = {}
    if not hyps:
        for m in metrics:
            for name in ([f"bleu{k}" for k in range(1, 5)] if m == "bleu" else [m]):
                out[name] = (float("nan"), [])
        return out
    c = _corpus(hyps, tuple(tuple(r) for r in rl))
    for m in metrics:
        if m == "bleu":
            corpus, per = _computed(c, "bleu")
            for k in range(4):
                out[f"bleu{k + 1}"] = (corpus[k], list(per[k]))
        else:
            s, per = _computed(c, m)
            out[m] = (s, list(per))
    return out


def _bleu(order: int):
    def fn(preds: Sequence[str], refs: Refs, *, tokenize: str = "ptb") -> tuple[float, list[float]]:
        return report_scores(preds, refs, tokenize=tokenize, metrics=("bleu",))[f"bleu{order}"]
    fn.__name__ = f"bleu{order}"
    fn.__doc__ = f"pycocoevalcap Bleu(4) BLEU-{order}: corpus score from summed counts; per-sample sentence BLEU."
    return fn


for _n in range(1, 5):
    METRICS.register(f"bleu{_n}")(_bleu(_n))
bleu1, bleu2, bleu3, bleu4 = (METRICS.get(f"bleu{_n}") for _n in range(1, 5))


@METRICS.register("rougeL")
def rouge_l(preds: Sequence[str], refs: Refs, *, tokenize: str = "ptb") -> tuple[float, list[float]]:
    """pycocoevalcap Rouge: LCS F with beta 1.2 from the max precision and max recall over the
    references (tokens split on " "), mean over samples."""
    return report_scores(preds, refs, tokenize=tokenize, metrics=("rougeL",))["rougeL"]


@METRICS.register("ciderD")
def cider_d(preds: Sequence[str], refs: Refs, *, tokenize: str = "ptb") -> tuple[float, list[float]]:
    """pycocoevalcap Cider (which is CIDEr-D): n = 1..4, IDF from this set's references, Gaussian
    length penalty (sigma 6) on the bigram count difference, clipping, x10; corpus = mean."""
    return report_scores(preds, refs, tokenize=tokenize, metrics=("ciderD",))["ciderD"]


# ------------------------------------------------------------------------------ METEOR (Java)
@METRICS.register("meteor")
def meteor(preds: Sequence[str], refs: Refs, *, tokenize: str = "ptb") -> tuple[float, list[float]]:
    """pycocoevalcap Meteor (meteor-1.5.jar -l en -norm): corpus score from aggregated statistics.
    Newlines inside a text are replaced by spaces (they would break the jar's line protocol)."""
    from ._meteor import meteor_scores
    hyps, rl = _prepare(preds, refs, tokenize)
    if not hyps:
        return float("nan"), []
    return meteor_scores(list(hyps), rl)


CONVENTIONS.update({
    **{f"bleu{k}": f"pycocoevalcap 1.2 Bleu(4) BLEU-{k}: corpus from summed counts, 'closest' ref length, "
                   "1e-15/1e-9 smoothing; per-sample = sentence BLEU; tokenize=ptb (PTBTokenizer port)"
       for k in range(1, 5)},
    "rougeL": "pycocoevalcap 1.2 Rouge: LCS F beta=1.2 (max P, max R over refs), mean over samples; tokenize=ptb",
    "ciderD": "pycocoevalcap 1.2 Cider (= CIDEr-D, sigma 6, clipped, x10, IDF from this set's refs), "
              "mean over samples; tokenize=ptb",
    "meteor": "pycocoevalcap 1.2 Meteor (meteor-1.5.jar -l en -norm, Java), corpus from aggregated stats; "
              "tokenize=ptb",
})
