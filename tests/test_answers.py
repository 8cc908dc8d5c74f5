"""medmllm.answers: strict (rewards) against lenient (metrics, replies) extraction on tricky tags,
`split`, `think_part`, `words`, linear time on degenerate text, and the numeric tolerance on both
sides of its boundary (as the `numeric` reward and self-consistency voting use it)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from medmllm import answers
from medmllm.answers import ABS_TOL, REL_TOL, answer_part, extract_answer, split, think_part, tolerance, words


# text, answer_part (strict), extract_answer (lenient), split
@pytest.mark.parametrize("text,strict,lenient,parts", [
    ("<think>ratio 0.6</think><answer>yes</answer>", "yes", "yes", ("ratio 0.6", "yes")),
    ("<think>ratio 0.6</think><answer>yes", "yes", "yes", ("ratio 0.6", "yes")),  # cut inside the answer
    ("<think>ratio 0.6, so", "", "<think>ratio 0.6, so", ("ratio 0.6, so", "")),  # cut inside the reasoning
    ("<think>a</think> yes", "yes", "<think>a</think> yes", ("a", "yes")),  # no answer tag: the text after </think>
    ("<think>yes</think>no", "no", "<think>yes</think>no", ("yes", "no")),  # ... which strict grades, not the think
    ("<answer>no</answer><think>yes</think>", "no", "no", ("yes", "no")),  # blocks in the other order
    ("</think>a<think>b", "a", "</think>a<think>b", ("b", "a<think>b")),  # tags in the other order
    ("</answer>no<answer>yes", "yes", "yes", ("", "yes")),
    ("<answer>yes</answer> or <answer>no</answer>", "yes ; no", "yes", ("", "yes")),  # hedged: strict sees both
    ("<answer>a</answer><answer>", "a ;", "a", ("", "a")),
    ("CTR 0.62</think><answer>yes</answer>", "yes", "yes", ("", "yes")),  # "<think>" prefilled
    ("CTR 0.62</think> yes", "yes", "CTR 0.62</think> yes", ("", "CTR 0.62</think> yes")),
    ("a</think>b</think>c", "c", "a</think>b</think>c", ("", "a</think>b</think>c")),
    ("<think>a</think> x <think>b</think> y", "x   y", "<think>a</think> x <think>b</think> y",
     ("a", "x <think>b</think> y")),
    ("<think>x<answer>yes</answer>", "yes", "yes", ("x", "yes")),  # unclosed think stops at the answer
    ("<ANSWER>Yes</ANSWER>", "Yes", "<ANSWER>Yes</ANSWER>", ("", "<ANSWER>Yes</ANSWER>")),  # case: strict only
    ("<answer>no</answer> trailing", "no", "no", ("", "no")),
    ("plain answer ", "plain answer", "plain answer", ("", "plain answer")),
    ("", "", "", ("", "")),
    ("  \n", "", "", ("", "")),
])
def test_strict_lenient_and_split(text, strict, lenient, parts):
    assert answer_part(text) == strict
    assert extract_answer(text) == lenient
    assert split(text) == parts


def test_answer_part_of_none():
    assert answer_part(None) == "" and think_part(None) == ""


@pytest.mark.parametrize("text,expected", [
    ("<think>a 3</think><answer>4</answer>", "a 3"),
    ("a 3</think><answer>4</answer>", "a 3"),                     # "<think>" prefilled by the template
    ("<think>a 3<answer>4</answer>", "a 3"),                      # unclosed think stops at the answer
    ("<think>a 3", "a 3"),
    ("<think>a</think> x <think>b</think>", "a b"),
    ("a</think>b</think>c", "a"),                                  # prefilled: up to the first </think>
    ("<THINK>a</THINK><answer>4</answer>", "a"),
    ("<answer>4</answer>", ""), ("plain text 5", ""), ("", ""), (None, ""),
])
def test_think_part(text, expected):
    assert think_part(text) == expected


def test_words():
    assert words("Yes, there is a LEFT-sided effusion (3.5 cm)!") == \
        ["yes", "there", "is", "a", "left", "sided", "effusion", "3", "5", "cm"]
    assert words("") == [] and words(" ... ") == []


def test_linear_time_on_many_blocks():
    many_thinks = "<think>a</think>" * 40_000  # the closer search must not rescan the text per block
    many_answers = "<think>a" + "<answer>b</answer>" * 40_000
    t = time.perf_counter()
    assert think_part(many_thinks) == " ".join(["a"] * 40_000)
    assert answer_part(many_thinks) == ""
    assert answer_part(many_answers) == " ; ".join(["b"] * 40_000)
    assert split(many_answers) == ("a", "b") and extract_answer(many_answers) == "b"
    assert time.perf_counter() - t < 2


def test_tolerance_constants_and_values():
    assert (REL_TOL, ABS_TOL) == (0.05, 0.02)
    assert tolerance(0.43) == pytest.approx(0.0215)  # 5 % beats 0.02
    assert tolerance(0.3) == tolerance(0.0) == 0.02  # 0.02 floor up to 1
    assert tolerance(-0.5) == pytest.approx(0.025)
    assert tolerance(1.0) == pytest.approx(0.05) and tolerance(1.2) == pytest.approx(0.06)
    assert tolerance(100) == pytest.approx(5.0) and tolerance(2, rel_tol=0.01, abs_tol=0.5) == pytest.approx(0.02)


@pytest.mark.parametrize("value,agrees", [(0.45, True), (0.4514, True), (0.4516, False), (0.46, False),
                                          (0.4086, True), (0.4084, False)])
def test_tolerance_boundary_around_0_43(value, agrees):
    assert (abs(value - 0.43) <= tolerance(0.43)) is agrees  # 0.43 ± 0.0215


def test_numeric_reward_and_vote_share_the_tolerance():
    from medmllm.reasoning import vote
    from medmllm.rewards import numeric

    assert numeric("<answer>0.45</answer>", "0.43") == 1.0 and numeric("<answer>0.4514</answer>", "0.43") == 1.0
    assert numeric("<answer>0.4516</answer>", "0.43") < 1.0
    # 0.43 and 0.45 back one another (tolerance of the larger, 0.0225), so they tie the two 0.40s: first seen wins
    tie = ["<answer>0.43</answer>", "<answer>0.45</answer>", "<answer>0.40</answer>", "<answer>0.40</answer>"]
    assert vote(tie).answer == "0.43"
    apart = ["<answer>0.43</answer>", "<answer>0.46</answer>", "<answer>0.40</answer>", "<answer>0.40</answer>"]
    assert vote(apart).answer == "0.40"  # 0.46 - 0.43 = 0.03 > 0.023: no backing


def test_leaf_module():
    code = ("import sys, medmllm.answers; "
            "print(sorted(m for m in sys.modules if m.startswith('medmllm.') or m in ('torch', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['medmllm.answers', 'medmllm.version']"
    assert answers.__doc__ and "strict" in answers.__doc__.lower() and "lenient" in answers.__doc__.lower()
