"""Report-generation lexical metrics that reproduce the reference libraries to 1e-6.

BLEU-1..4, ROUGE-L and CIDEr-D follow pycocoevalcap 1.2 (Python and numpy here, no Java); METEOR runs
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

import math
from functools import lru_cache
from itertools import chain
from typing import Sequence

import numpy as np

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
# Every distinct tokenised text gets, per order 1..4, a table of its n-grams (dense integer ids)
# with their counts, stored CSR-style: texts' rows are contiguous and sorted by n-gram id.  BLEU's
# clipped counts and CIDEr-D's tf-idf dot products are then sorted look-ups (searchsorted) and
# weighted bincounts over all samples at once, in numpy; only BLEU's per-sample formula, which
# must repeat pycocoevalcap's float operations, runs per sample in Python.
def _rows(ptr: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entry indices of CSR rows `ts`, concatenated, and for each the position in `ts`."""
    starts = ptr[ts]
    lens = ptr[ts + 1] - starts
    owner = np.repeat(np.arange(len(ts)), lens)
    idx = np.arange(int(lens.sum())) + np.repeat(starts - (np.cumsum(lens) - lens), lens)
    return idx, owner


def _find(keys: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of `q`: its position in the sorted `keys` and whether it is there."""
    if not len(keys):
        return np.zeros(len(q), np.int64), np.zeros(len(q), bool)
    pos = np.searchsorted(keys, q)
    pos[pos == len(keys)] = 0
    return pos, keys[pos] == q


class _Corpus:
    """Tokenised predictions and references of one call with their n-gram tables; the metrics
    computed from it are kept, so calling the metrics one by one costs one pass.

    Samples are indexed 0..S-1, (sample, reference) pairs 0..P-1 in sample order; `orders[k]` is
    (number of distinct (k+1)-grams G, row pointers per text, n-gram id and count per entry)."""

    def __init__(self, hyps: tuple[str, ...], refs: list[list[str]]):
        self.hyps, self.refs = hyps, refs
        texts = list(dict.fromkeys([*hyps, *chain.from_iterable(refs)]))
        index = {t: k for k, t in enumerate(texts)}
        self.nrefs = np.array(list(map(len, refs)), dtype=np.int64)
        self.h = np.array([index[h] for h in hyps], dtype=np.int64)          # text of each sample
        self.pair_sample = np.repeat(np.arange(len(hyps)), self.nrefs)
        self.pair_text = np.array([index[r] for r in chain.from_iterable(refs)], dtype=np.int64)
        words = [t.split() for t in texts]
        vocab = dict.fromkeys(chain.from_iterable(words))
        vocab = dict(zip(vocab, range(len(vocab))))  # word -> id, built in C
        self.lengths = np.array(list(map(len, words)), dtype=np.int64)
        tok = np.fromiter(map(vocab.__getitem__, chain.from_iterable(words)), dtype=np.int64,
                          count=int(self.lengths.sum()))
        tid = np.repeat(np.arange(len(texts)), self.lengths)
        n, v = len(tok), max(len(vocab), 1)
        gid, ng = tok, v
        self.orders = []
        for k in range(4):
            if k:  # a (k+1)-gram's id: the unique-rank of (its k-gram prefix's id, last token id)
                m = max(n - k, 0)
                uniq, gid = np.unique(gid[:m] * v + tok[k:], return_inverse=True)
                ng = max(len(uniq), 1)
                valid = tid[:m] == tid[k:]  # drop n-grams that cross from one text into the next
                t, g = tid[:m][valid], gid[valid]
            else:
                t, g = tid, gid
            u, cnt = np.unique(t * ng + g, return_counts=True)
            self.orders.append((ng, np.searchsorted(u // ng, np.arange(len(texts) + 1)), u % ng, cnt))
        self._refmax: list = [None] * 4
        self.results: dict[str, tuple] = {}

    def refmax(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each (sample, n-gram) of the sample's references as key sample * G + id, sorted, with
        the n-gram's largest count in any one of them (BLEU's clip)."""
        if self._refmax[k] is None:
            ng, ptr, g, cnt = self.orders[k]
            idx, owner = _rows(ptr, self.pair_text)
            key, c = self.pair_sample[owner] * ng + g[idx], cnt[idx]
            if not (self.nrefs == 1).all():  # several references: keep the largest count per key
                order = np.lexsort((-c, key))
                key, c = key[order], c[order]
                first = np.ones(len(key), bool)
                first[1:] = key[1:] != key[:-1]
                key, c = key[first], c[first]
            self._refmax[k] = (key, c)
        return self._refmax[k]


@lru_cache(maxsize=2)
def _corpus(hyps: tuple[str, ...], refs: tuple[tuple[str, ...], ...]) -> _Corpus:
    return _Corpus(hyps, [list(r) for r in refs])


# ------------------------------------------------------------------------------ BLEU (pycocoevalcap)
def _bleu_all(c: _Corpus) -> tuple[list[float], list[list[float]]]:
    n, tiny, small = 4, 1e-15, 1e-9
    correct = []  # per order, per sample: hypothesis n-gram counts clipped at the references' max
    for k in range(n):
        ng, ptr, g, cnt = c.orders[k]
        idx, owner = _rows(ptr, c.h)
        rkey, rcnt = c.refmax(k)
        pos, hit = _find(rkey, owner * ng + g[idx])
        clipped = np.where(hit, np.minimum(cnt[idx], rcnt[pos] if len(rcnt) else 0), 0)
        correct.append(np.bincount(owner, weights=clipped, minlength=len(c.h)).astype(np.int64).tolist())
    testlens, rlens = c.lengths[c.h].tolist(), c.lengths[c.pair_text].tolist()
    tot_guess, tot_correct = [0] * n, [0] * n
    tot_test = tot_ref = j = 0
    per: list[list[float]] = [[] for _ in range(n)]
    for i, (testlen, m) in enumerate(zip(testlens, c.nrefs.tolist())):
        # Bleu passes 'closest': the reference length nearest the hypothesis', the shorter on ties
        reflen = rlens[j] if m == 1 else min((abs(r - testlen), r) for r in rlens[j:j + m])[1]
        j += m
        tot_test += testlen
        tot_ref += reflen
        bleu = 1.0
        for k in range(n):
            guess = testlen - k if testlen > k else 0
            tot_guess[k] += guess
            tot_correct[k] += correct[k][i]
            bleu *= (float(correct[k][i]) + tiny) / (float(guess) + small)
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
    nsamp, npairs = len(c.h), len(c.pair_text)
    ref_len = math.log(float(nsamp))
    hp = c.h[c.pair_sample]  # the hypothesis text of each (sample, reference) pair
    # pycocoevalcap's "length" counts bigrams; Gaussian penalty on the difference
    lh, lr = np.maximum(c.lengths[hp] - 1, 0), np.maximum(c.lengths[c.pair_text] - 1, 0)
    pen = np.e ** (-((lh - lr).astype(np.float64) ** 2) / (2 * sigma ** 2))
    total = np.zeros(npairs)
    for k in range(n):
        ng, ptr, g, cnt = c.orders[k]
        df = np.bincount(c.refmax(k)[0] % ng, minlength=ng)  # samples whose references hold the n-gram
        vec = cnt * (ref_len - np.log(np.maximum(1.0, df[g])))  # tf * idf of every (text, n-gram)
        ntext = len(ptr) - 1
        norm = np.sqrt(np.bincount(np.repeat(np.arange(ntext), np.diff(ptr)), weights=vec * vec, minlength=ntext))
        ridx, rown = _rows(ptr, c.pair_text)
        hidx, hown = _rows(ptr, hp)
        pos, hit = _find(rown * ng + g[ridx], hown * ng + g[hidx])
        vr = vec[ridx[pos[hit]]]
        # sum over the hypothesis' n-grams of min(vec_hyp, vec_ref) * vec_ref, per pair
        val = np.bincount(hown[hit], weights=np.minimum(vec[hidx[hit]], vr) * vr,
                          minlength=npairs).astype(np.float64)  # (int64 when nothing matched)
        nh, nr = norm[hp], norm[c.pair_text]
        ok = (nh != 0) & (nr != 0)
        val[ok] /= (nh * nr)[ok]
        total += val * pen
    per = (np.bincount(c.pair_sample, weights=total, minlength=nsamp) / n / c.nrefs * 10.0).tolist()
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
