"""VQA metrics under named scoring conventions: closed accuracy, open recall, open F1, exact match.

Every metric is `fn(preds, refs, *, convention="llava-med", questions=None) -> (corpus, per_sample)`:
the corpus score is the mean of the per-sample scores (NaN for no items). The caller picks the
items (closed_accuracy gets the CLOSED ones, open_* the OPEN ones); `medmllm score vqa` does that
per convention (MultiMedEval decides "closed" from the reference, not from `answer_type`).
When a prediction holds `<answer>...</answer>` (an unclosed tag too) only that text is scored;
otherwise the prediction is scored exactly as given (no stripping: whitespace matters to the
LLaVA-Med normaliser). `questions` is accepted for conventions that condition on the question;
none of the four below does. docs/metrics.md has the details and a worked example.
"""
from __future__ import annotations

import re
from typing import Callable

from ...answers import extract_answer
from ...errors import MedMLLMError
from . import CONVENTIONS, METRICS
from ._llava_med import clean_str, f1score, normalize_word

VQA_CONVENTIONS: dict[str, str] = {
    "llava-med": "microsoft/LLaVA-Med @ b9a98a7 llava/eval/run_eval_batch.py + eval_metrics/ (the paper tables): "
                 "normalize_word, closed = substring normalize(gt) in normalize(pred), open recall/F1 from "
                 "calculate_f1score (prediction multiplicity)",
    "llava-med-gated": "microsoft/LLaVA-Med llava/eval/run_eval.py after fix #35: closed also needs 'yes' or "
                       "'no' as a substring of the normalised prediction (denominator: every CLOSED item); "
                       "open as llava-med",
    "multimedeval": "corentin-ryr/MultiMedEval task_families.VQA.evaluate: clean_str token sets; closed (cleaned gt "
                    "yes/no) correct when set recall >= 0.4 with 'not' added to gt 'no'; open recall = set recall",
    "exact": "medmllm strict: lowercase, punctuation -> space, articles dropped, whitespace collapsed; every metric "
             "is exact match of the two strings",
}
DEFAULT_CONVENTION = "llava-med"
_STRICT_PUNCT = re.compile(r"[^\w\s]|_")
_ARTICLES = frozenset({"a", "an", "the"})


def answer_text(pred: str) -> str:
    """The text that is scored: inside <answer>...</answer> when the tag is present, else `pred` as is."""
    return extract_answer(pred) if "<answer>" in pred else pred


def strict_normalize(text: str) -> str:
    """The `exact` convention's normaliser (no number words, no contractions, no substring tests)."""
    return " ".join(w for w in _STRICT_PUNCT.sub(" ", text.lower()).split() if w not in _ARTICLES)


def _llava(text: str) -> str:  # run_eval*.py: normalize_word(value.lower())
    return normalize_word(text.lower())


def _mme_ref(ref: str) -> set[str]:  # MultiMedEval: get_correct_answer() = answer.lower().strip(), then clean_str
    return set(clean_str(ref.lower().strip()).split())


def _mme_pred(pred: str) -> set[str]:
    return set(clean_str(pred).split())


def _mme_prf(pred: str, ref: str) -> tuple[float, float, float]:
    p, r = _mme_pred(pred), _mme_ref(ref)
    precision = len(p & r) / len(p) if p else 0
    recall = len(p & r) / len(r) if r else 0
    return 2 * (precision * recall) / (precision + recall + 1e-8), precision, recall


def is_closed_multimedeval(ref: str) -> bool:
    """MultiMedEval's closed-question test: the cleaned reference is exactly `yes` or `no`."""
    return clean_str(ref.lower().strip()) in ("yes", "no")


def _closed_llava(pred: str, ref: str) -> float:
    return float(_llava(ref) in _llava(pred))


def _closed_gated(pred: str, ref: str) -> float:
    p = _llava(pred)
    return float(("yes" in p or "no" in p) and _llava(ref) in p)


def _closed_mme(pred: str, ref: str) -> float:
    gt = _mme_ref(ref)
    if gt == {"no"}:
        gt.add("not")
    return float((len(_mme_pred(pred) & gt) / len(gt) if gt else 0) >= 0.4)


def _exact(pred: str, ref: str) -> float:
    return float(strict_normalize(pred) == strict_normalize(ref))


_PER_ITEM: dict[str, dict[str, Callable[[str, str], float]]] = {
    "closed_accuracy": {"llava-med": _closed_llava, "llava-med-gated": _closed_gated,
                        "multimedeval": _closed_mme, "exact": _exact},
    "open_recall": {"llava-med": lambda p, r: f1score(_llava(p), _llava(r))[2],
                    "llava-med-gated": lambda p, r: f1score(_llava(p), _llava(r))[2],
                    "multimedeval": lambda p, r: _mme_prf(p, r)[2], "exact": _exact},
    "open_f1": {"llava-med": lambda p, r: f1score(_llava(p), _llava(r))[0],
                "llava-med-gated": lambda p, r: f1score(_llava(p), _llava(r))[0],
                "multimedeval": lambda p, r: _mme_prf(p, r)[0], "exact": _exact},
    "exact_match": {"llava-med": lambda p, r: float(_llava(p) == _llava(r)),
                    "llava-med-gated": lambda p, r: float(_llava(p) == _llava(r)),
                    "multimedeval": lambda p, r: float(clean_str(p) == clean_str(r.lower().strip())),
                    "exact": _exact},
}


def check_convention(convention: str) -> str:
    if convention not in VQA_CONVENTIONS:
        raise MedMLLMError(f"unknown VQA convention {convention!r}; choose from {', '.join(VQA_CONVENTIONS)}")
    return convention


def _score(name: str, preds: list[str], refs: list[str], convention: str,
           questions: list[str] | None) -> tuple[float, list[float]]:
    item = _PER_ITEM[name][check_convention(convention)]
    if len(preds) != len(refs) or (questions is not None and len(questions) != len(preds)):
        raise MedMLLMError(f"{name}: {len(preds)} predictions but {len(refs)} references"
                           + ("" if questions is None else f" and {len(questions)} questions"))
    per = [float(item(answer_text(p), answer_text(r))) for p, r in zip(preds, refs)]
    return (sum(per) / len(per) if per else float("nan")), per


def _register(name: str) -> None:
    def metric(preds: list[str], refs: list[str], *, convention: str = DEFAULT_CONVENTION,
               questions: list[str] | None = None) -> tuple[float, list[float]]:
        return _score(name, preds, refs, convention, questions)

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = f"{name} under `convention` (one of {', '.join(VQA_CONVENTIONS)}): (corpus mean, per-sample)."
    globals()[name] = METRICS.register(name)(metric)


for _name in _PER_ITEM:
    _register(_name)

_TAGS = "; scores the text inside <answer>...</answer> (prediction and reference) when the tag is present"
CONVENTIONS.update({
    "closed_accuracy": "LLaVA-Med run_eval_batch.py @ b9a98a7: normalize_word(gt) is a substring of "
                       "normalize_word(pred), mean over all CLOSED items (convention=llava-med; also "
                       "llava-med-gated, multimedeval, exact)" + _TAGS,
    "open_recall": "LLaVA-Med @ b9a98a7 calculate_f1score recall tp/(tp+fn) over OPEN items, tp with the "
                   "prediction's multiplicity, empty prediction 0 (convention=llava-med; also multimedeval set "
                   "recall, exact)" + _TAGS,
    "open_f1": "LLaVA-Med @ b9a98a7 calculate_f1score F1 over OPEN items (convention=llava-med; also multimedeval "
               "set F1 with +1e-8, exact)" + _TAGS,
    "exact_match": "normalize_word(pred) == normalize_word(gt) over all items (convention=llava-med; multimedeval: "
                   "clean_str; exact: strict normaliser); not LLaVA-Med's 'exact match score' row" + _TAGS,
})
