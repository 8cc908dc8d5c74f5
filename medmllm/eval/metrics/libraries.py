"""Report metrics as two other libraries compute them: ROUGE-L as rouge-score 0.1.2 does (its own
tokenizer, optional Porter stemming, F1 with beta 1) and BLEU as sacrebleu 2.6.0 does (with its
signature). Same signature as the pycocoevalcap family in `lexical.py`, whose input handling and
bit-parallel LCS they share.
"""
from __future__ import annotations

from typing import Sequence

from . import CONVENTIONS, METRICS
from .lexical import Refs, _prepare, lcs_length


# ------------------------------------------------------------------------------ rouge-score
_RS_TOKENIZERS: dict[bool, object] = {}


def _rs_tokens(text: str, stem: bool, cache: dict) -> list[str]:
    toks = cache.get(text)
    if toks is None:
        tk = _RS_TOKENIZERS.get(stem)
        if tk is None:
            from rouge_score import tokenizers
            tk = _RS_TOKENIZERS[stem] = tokenizers.DefaultTokenizer(use_stemmer=stem)
        toks = cache[text] = tk.tokenize(text)
    return toks


def _rouge_score(stem: bool):
    def fn(preds: Sequence[str], refs: Refs, *, tokenize: str = "none") -> tuple[float, list[float]]:
        hyps, rl = _prepare(preds, refs, tokenize)
        cache: dict = {}
        per = []
        for hyp, rs in zip(hyps, rl):
            pt = _rs_tokens(hyp, stem, cache)
            best = None
            for r in rs:  # RougeScorer.score_multi: the reference with the max F (first on ties)
                tt = _rs_tokens(r, stem, cache)
                if not tt or not pt:
                    f = 0.0
                else:
                    lcs = lcs_length(tt, pt)
                    p, rc = lcs / len(pt), lcs / len(tt)
                    f = 2 * p * rc / (p + rc) if p + rc > 0 else 0.0
                if best is None or f > best:
                    best = f
            per.append(best)
        return (sum(per) / len(per) if per else float("nan")), per
    return fn


METRICS.register("rougeL_rouge_score")(_rouge_score(False))
METRICS.register("rougeL_rouge_score_stem")(_rouge_score(True))


# ------------------------------------------------------------------------------ sacrebleu
def sacrebleu_signature(nrefs: int = 1) -> str:
    """The sacrebleu signature of `bleu4_sacrebleu` (default settings) for `nrefs` references."""
    import sacrebleu
    bleu = sacrebleu.BLEU()
    bleu.corpus_score(["a"], [["a"]] * nrefs)  # the signature needs the number of references
    return str(bleu.get_signature())


@METRICS.register("bleu4_sacrebleu")
def bleu4_sacrebleu(preds: Sequence[str], refs: Refs, *, tokenize: str = "none") -> tuple[float, list[float]]:
    """sacrebleu 2.6.0 corpus_bleu with default settings (13a, mixed case, exp smoothing) / 100;
    per-sample sentence_bleu / 100.  Samples with fewer references are padded with None."""
    import sacrebleu
    hyps, rl = _prepare(preds, refs, tokenize)
    if not hyps:
        return float("nan"), []
    nref = max(len(r) for r in rl)
    streams = [[r[i] if i < len(r) else None for r in rl] for i in range(nref)]
    corpus = sacrebleu.corpus_bleu(list(hyps), streams).score / 100.0
    per = [sacrebleu.sentence_bleu(h, list(r)).score / 100.0 for h, r in zip(hyps, rl)]
    return corpus, per


CONVENTIONS.update({
    "rougeL_rouge_score": "rouge-score 0.1.2 RougeScorer(['rougeL'], use_stemmer=False) F1, max over refs, "
                          "mean over samples; own tokenizer (tokenize=none)",
    "rougeL_rouge_score_stem": "rouge-score 0.1.2 RougeScorer(['rougeL'], use_stemmer=True) F1, max over refs, "
                               "mean over samples; own tokenizer (tokenize=none)",
    "bleu4_sacrebleu": "sacrebleu 2.6.0 corpus_bleu/100, nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|"
                       "version:2.6.0 (tokenize=none); per-sample sentence_bleu/100",
})
