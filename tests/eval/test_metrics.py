"""Metrics: hand-checked values and the conventions they name."""
import math

import pytest

from medmllm.eval.metrics import METRICS


def test_closed_accuracy_llava_med_substring():
    # default convention llava-med: normalize_word(gt) is a substring of normalize_word(pred)
    score, per = METRICS.get("closed_accuracy")(["Yes, there is.", "no", "<think>...</think><answer>no</answer>",
                                                 "unclear"], ["yes", "yes", "no", "no"])
    assert per == [1.0, 0.0, 1.0, 0.0] and score == 0.5


def test_open_recall():
    score, per = METRICS.get("open_recall")(["left upper zone", "right", ""], ["left lower zone", "right", "left"])
    assert per == pytest.approx([2 / 3, 1.0, 0.0])


def test_bleu4_identical_and_brevity():
    s, per = METRICS.get("bleu4")(["the heart is normal in size"], ["the heart is normal in size"])
    assert s == pytest.approx(1.0)
    s2, _ = METRICS.get("bleu4")(["the heart is normal"], ["the heart is normal in size today"])
    # 4-gram precision 1, brevity penalty exp(1 - 7/4)
    assert s2 == pytest.approx(math.exp(1 - 7 / 4), rel=1e-6)


def test_rouge_l_beta_1_2():
    s, per = METRICS.get("rougeL")(["a b c d"], ["a c d e f"])
    p, r = 3 / 4, 3 / 5
    assert s == pytest.approx((1 + 1.44) * p * r / (r + 1.44 * p))


