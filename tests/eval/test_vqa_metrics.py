"""VQA metrics against the reference scripts' own outputs, on thousands of adversarial strings.

`vqa_reference_outputs.json.gz` holds what the reference code returned (outputs only, no code) for
9,190 strings and 3,000 prediction/reference pairs, generated once by running:
- LLaVA-Med, https://github.com/microsoft/LLaVA-Med (pre-v1.5 tree, files as stored at commits
  356ba559f471 (glossary.py) and ad758b687d4e (utils.py, evaluate_metrics.py, run_eval_batch.py,
  run_eval.py); the research note pins b9a98a7, the last commit before v1.5 removed these files):
  `normalize_word`, `calculate_f1score`, run_eval_batch.py `evaluate` and run_eval.py `evaluate`
  with the fix of LLaVA-Med #35 (wrong yes/no answers stay in the denominator);
- MultiMedEval, https://github.com/corentin-ryr/MultiMedEval `utils.clean_str` (04578b2) and
  `task_families.VQA.evaluate` (0044b1f) with VQA-RAD's `get_correct_answer` (`answer.lower().strip()`).
Per pair: the batch script's closed hit and the gated script's (each pair scored alone beside one
OPEN item), `calculate_f1score` recall and F1 of the normalised strings, MultiMedEval's per-item F1
and recall from its answer log and, for yes/no references, its closed hit; plus whole-run rows.
"""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from medmllm.errors import MedMLLMError
from medmllm.eval.metrics import METRICS
from medmllm.eval.metrics._llava_med import normalize_word
from medmllm.eval.metrics.vqa import is_closed_multimedeval

REF = json.loads(gzip.open(Path(__file__).with_name("vqa_reference_outputs.json.gz"), "rt").read())
PAIRS = [(row["pred"], row["ref"]) for row in REF["pairs"]]


def _split(pairs):
    return [p for p, _ in pairs], [r for _, r in pairs]


def test_normalize_word_and_clean_str_match_the_originals():
    mismatches = [s for s, want in REF["normalize_word"].items() if normalize_word(s) != want]
    assert not mismatches, mismatches[:5]
    assert len(REF["normalize_word"]) > 9000
    # MultiMedEval's clean_str is normalize_word of the lowercased text
    assert all(normalize_word(s.lower()) == want for s, want in REF["clean_str"].items())


@pytest.mark.parametrize("metric,convention,field", [
    ("closed_accuracy", "llava-med", "llava_closed"), ("closed_accuracy", "llava-med-gated", "gated_closed"),
    ("open_recall", "llava-med", "llava_open_recall"), ("open_f1", "llava-med", "llava_open_f1"),
    ("open_f1", "multimedeval", "mme_f1"), ("open_recall", "multimedeval", "mme_recall")])
def test_per_item_scores_match_the_originals(metric, convention, field):
    _, per = METRICS.get(metric)(*_split(PAIRS), convention=convention)
    want = [row[field] for row in REF["pairs"]]
    bad = [(p, r, mine, w) for (p, r), mine, w in zip(PAIRS, per, want) if abs(mine - w) > 1e-12]
    assert not bad, bad[:3]


def test_multimedeval_closed_items_match():
    rows = [row for row in REF["pairs"] if "mme_closed" in row]
    assert len(rows) > 300 and all(is_closed_multimedeval(row["ref"]) for row in rows)
    _, per = METRICS.get("closed_accuracy")([r["pred"] for r in rows], [r["ref"] for r in rows],
                                            convention="multimedeval")
    assert per == [row["mme_closed"] for row in rows]


def test_whole_run_rows_match():
    closed, open_ = PAIRS[:1500], PAIRS[1500:]
    rows = REF["run_eval_batch_first1500_closed_rest_open"]
    assert METRICS.get("closed_accuracy")(*_split(closed))[0] * 100 == pytest.approx(rows["yes/no accuracy"], abs=1e-9)
    assert METRICS.get("open_recall")(*_split(open_))[0] * 100 == pytest.approx(rows["recall"], abs=1e-9)
    assert METRICS.get("open_f1")(*_split(open_))[0] * 100 == pytest.approx(rows["f1 score"], abs=1e-9)
    gated = REF["run_eval_first2000_closed"]
    acc = METRICS.get("closed_accuracy")(*_split(PAIRS[:2000]), convention="llava-med-gated")[0]
    assert acc * 100 == pytest.approx(gated["yes/no accuracy"], abs=1e-9)
    assert METRICS.get("closed_accuracy")(*_split(PAIRS[:2000]))[0] > acc  # the gate zeroes some items
    mme = REF["multimedeval_all"]
    closed = [pr for pr in PAIRS if is_closed_multimedeval(pr[1])]
    open_ = [pr for pr in PAIRS if not is_closed_multimedeval(pr[1])]
    assert METRICS.get("closed_accuracy")(*_split(closed), convention="multimedeval")[0] == \
        pytest.approx(mme["closedQuestionsAccuracy"], abs=1e-12)
    assert METRICS.get("open_recall")(*_split(open_), convention="multimedeval")[0] == \
        pytest.approx(mme["openQuestionsRecall"], abs=1e-12)


def test_documented_quirks():
    acc = METRICS.get("closed_accuracy")
    # substring: gt "no" is found in "nodule", "not", "abnormal", "cannot"; yes-and-no answers always win
    _, per = acc(["a nodule", "not seen", "abnormal", "cannot tell", "yes and no", "yes and no"],
                 ["no", "no", "no", "no", "no", "yes"])
    assert per == [1.0] * 6
    assert acc(["a nodule"], ["no"], convention="exact")[0] == 0.0
    assert acc(["a nodule"], ["no"], convention="multimedeval")[0] == 0.0
    assert acc(["it is not"], ["no"], convention="multimedeval")[0] == 1.0  # "not" joins gt "no"
    # gate: choice questions score 0 unless the prediction contains yes/no
    assert acc(["left"], ["left"])[0] == 1.0 and acc(["left"], ["left"], convention="llava-med-gated")[0] == 0.0
    # "none" -> "0", number words -> digits, x-ray -> "x ray", 1,000 -> 1000, 32 periods only
    assert normalize_word("none") == "0" and normalize_word("Two") == "2"
    assert normalize_word("x-ray") == "x ray" and normalize_word("1,000 mm") == "1000 mm"
    assert normalize_word("." * 33 + "no") == ".no"
    # open recall counts the prediction's multiplicity: 2 of 4, not 1 of 3
    assert METRICS.get("open_recall")(["left left"], ["left lower lobe"])[0] == 0.5
    assert METRICS.get("open_recall")(["left left"], ["left lower lobe"], convention="multimedeval")[0] == \
        pytest.approx(1 / 3)
    assert METRICS.get("open_recall")([""], ["left"])[0] == 0.0


def test_answer_tags_defaults_and_errors():
    acc = METRICS.get("closed_accuracy")
    # the text inside <answer> is scored: "no" in the reasoning does not count
    assert acc(["<think>yes or no? not sure</think><answer>yes</answer>"], ["no"])[0] == 0.0
    assert acc(["<think>...</think><answer>no"], ["no"])[0] == 1.0
    assert METRICS.get("exact_match")(["<answer> The X-ray. </answer>"], ["x ray"])[0] == 1.0
    assert METRICS.get("exact_match")(["The X-ray."], ["x ray"], convention="exact")[0] == 1.0
    assert METRICS.get("exact_match")(["xray"], ["x ray"], convention="exact")[0] == 0.0
    assert math.isnan(acc([], [])[0])
    with pytest.raises(MedMLLMError, match="unknown VQA convention"):
        acc(["yes"], ["yes"], convention="vqa-v2")
    with pytest.raises(MedMLLMError, match="1 predictions but 2 references"):
        acc(["yes"], ["yes", "no"])
    with pytest.raises(MedMLLMError, match="questions"):
        acc(["yes"], ["yes"], questions=["q1", "q2"])
