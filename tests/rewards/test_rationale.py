"""`reasoning_numbers`: the process reward on a rationale's quantities (`think_part` is tested in test_answers.py)."""
from __future__ import annotations

import time

import pytest

from medmllm import rewards

rn = rewards.get("reasoning_numbers")

REF = ("<think>There are 3 nodules (28 mm in the right middle zone, 27 mm in the left upper zone, 14 mm in the "
       "right upper zone). The left lung has 1 and the right lung 2; 1 is fewer than 2.</think><answer>no</answer>")


def test_exact_rationale_scores_one():
    assert rn(REF, REF) == 1.0
    assert rn(REF.replace("<answer>no", "<answer>yes"), REF) == 1.0   # the answer is not read here


def test_wrong_counts_lose_credit_in_proportion():
    # reference's distinct numbers: 3, 28 mm, 27 mm, 14 mm, 1, 2 (six)
    one_wrong_count = REF.replace("There are 3", "There are 4")
    assert rn(one_wrong_count, REF) == pytest.approx(2 * 5 / 12)
    swapped_sides = REF.replace("has 1 and the right lung 2; 1 is fewer than 2", "has 2 and the right lung 1; 2 is more than 1")
    assert rn(swapped_sides, REF) == 1.0   # the same numbers: the order of statements is not checked
    assert rn("<think>There are 3 nodules.</think><answer>no</answer>", REF) == pytest.approx(2 * 1 / 7)


def test_tolerance_units_and_counts():
    ref = "<think>Heart 11.9 cm, thorax 26.9 cm, ratio 11.9 / 26.9 = 0.44.</think><answer>0.44</answer>"
    assert rn("<think>Heart 119 mm, thorax 27.9 cm: ratio 0.42.</think><answer>0.42</answer>", ref) == 1.0
    assert rn("<think>Heart 11.9 cm, thorax 26.9 cm: ratio 0.50.</think><answer>0.5</answer>", ref) \
        == pytest.approx(2 * 2 / 6)
    assert rn("<think>Heart 11.9 bpm</think><answer>0.44</answer>", ref) == 0.0          # wrong dimension
    sizes = "<think>3 nodules, 5 mm and 5 cm</think><answer>no</answer>"
    assert rn("<think>3 nodules, 5 mm and 5 mm</think><answer>no</answer>", sizes) == pytest.approx(2 * 2 / 5)
    assert rn("<think>3 nodules, 5 mm and 0.5 cm</think><answer>no</answer>", "<think>3 nodules, 5 mm</think>") == 1.0
    count = "<think>There are 2 nodules.</think><answer>2</answer>"
    assert rn("<think>There are two nodules.</think><answer>2</answer>", count) == 1.0   # number words
    assert rn("<think>There are 2.05 nodules.</think><answer>2</answer>", count) == 0.0  # counts are exact


def test_padding_with_numbers_costs_precision():
    ref = "<think>The ratio is 0.44.</think><answer>0.44</answer>"
    assert rn("<think>The ratio is 0.44.</think><answer>0.44</answer>", ref) == 1.0
    padded = "<think>" + " ".join(f"{x / 100:.2f}" for x in range(30, 60)) + "</think><answer>0.44</answer>"
    assert rn(padded, ref) == pytest.approx(2 / 31)


@pytest.mark.parametrize("completion,reference", [
    (REF, "<answer>no</answer>"),               # the reference has no rationale: nothing to verify
    (REF, "<think>No nodules.</think><answer>no</answer>"),
    ("<answer>3 28 27 14 1 2</answer>", REF),  # numbers only in the answer block
    ("3 28 27 14 1 2", REF),                   # no tags at all: nothing is reasoning
    ("<think></think><answer>no</answer>", REF), ("", REF), ("   ", REF),
    (REF.replace("<answer>no</answer>", "<answer> </answer>"), REF),   # reasoning that never answers
    (REF.split("</think>")[0], REF),                                     # cut off inside <think>
])
def test_zero_without_two_rationales(completion, reference):
    assert rn(completion, reference) == 0.0


def test_bounded_and_fast_on_degenerate_text():
    garbage = "<think>1" + ",234" * 30_000 + " ".join(str(i) for i in range(50_000)) + " 3 mm" * 10_000 \
        + "</think><answer>1</answer>"   # a digit run with commas is quadratic for the number pattern
    t = time.perf_counter()
    for completion, reference in ((garbage, garbage), (garbage, REF), (REF, garbage)):
        assert 0.0 <= rn(completion, reference) <= 1.0
    assert time.perf_counter() - t < 2
