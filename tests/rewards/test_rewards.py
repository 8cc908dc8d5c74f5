"""medmllm.rewards: every built-in reward on normal and adversarial cases, the registry and
`combine`, and a check over real MedSynth reasoning/VQA/report records."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

import medmllm
from medmllm import rewards
from medmllm.errors import MedMLLMError

fmt = rewards.get("format")
closed = rewards.get("closed_match")
open_ = rewards.get("open_match")
numeric = rewards.get("numeric")
report = rewards.get("report_labels")
answer = rewards.get("answer_match")
reasoning = rewards.get("reasoning_numbers")
ALL = (fmt, closed, open_, numeric, report, answer, reasoning)

GARBAGE = ("<think>" + "x <answer" * 5000 + "<think> yes no 3 left " * 2000 + "</answer>" * 3
           + "ĳ☃\x00" * 10000 + "(B) " * 500)


def tagged(answer: str, think: str = "Looking at the image step by step.") -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


# ---------------------------------------------------------------------------------- format
@pytest.mark.parametrize("text", [
    tagged("0.43"),
    "  \n" + tagged("yes") + "\n ",
    "<think>\nreasoning\n</think>\n<answer>\nno\n</answer>",
])
def test_format_exact(text):
    assert fmt(text, "") == 1.0


@pytest.mark.parametrize("text", ["Sure! " + tagged("yes"), tagged("yes") + " Hope this helps.",
                                  "<think>a</think> so: <answer>b</answer>"])
def test_format_text_outside_is_partial(text):
    assert fmt(text, "") == 0.5
    assert fmt(text, "", partial=0.0) == 0.0


@pytest.mark.parametrize("text", [
    "<answer>yes</answer><think>because</think>",                       # out of order
    "<think>a</think><think>b</think><answer>yes</answer>",              # duplicated think
    "<think>a</think><answer>yes</answer><answer>no</answer>",           # duplicated answer
    "<think>a</think><answer></answer>",                                 # empty answer
    "<think>a</think><answer>   </answer>",                              # whitespace answer
    "<think> </think><answer>yes</answer>",                              # empty think
    "<think>a</think><answer>yes",                                       # unclosed answer
    "<think>a<answer>yes</answer>",                                      # unclosed think
    "<think>a <answer>x</answer></think><answer>yes</answer>",           # nested
    "<THINK>a</THINK><ANSWER>yes</ANSWER>",                              # uppercase
    "<think>a</think><answer>yes</answer></answer>",                     # stray closing tag
    "<think>a</think>yes",                                               # no answer block
    "yes", "", "   \n\t", GARBAGE,
])
def test_format_rejects(text):
    assert fmt(text, "") == 0.0


# ---------------------------------------------------------------------------------- closed_match
@pytest.mark.parametrize("completion", ["yes", "Yes", "YES.", "yes, there is an effusion", tagged("Yes"),
                                        "<think>CTR 0.62</think>\n<answer> yes </answer>", "<answer>yes",
                                        "the heart is large</think><answer>yes</answer>"])
def test_closed_yes(completion):
    assert closed(completion, "yes") == 1.0
    assert closed(completion, tagged("yes")) == 1.0
    assert closed(completion, "no") == 0.0


@pytest.mark.parametrize("completion", [
    "yes and no", "Yes. No.", "yes, no effusion",                        # says both
    "<answer>yes</answer><answer>no</answer>",                           # hedged over two blocks
    "<think>yes</think><answer>no</answer>",                             # yes only in the reasoning
    "<think>The answer is yes</think>", "<think>yes",                    # answer outside / no answer block
    "<think>yes</think><answer></answer>", "<answer></answer>yes",       # empty answer
    "maybe", "", "   ", GARBAGE, "yesterday", "nobody knows",
])
def test_closed_rejects(completion):
    assert closed(completion, "yes") == 0.0


@pytest.mark.parametrize("completion", ["B", "b", "(B)", "(b) cardiomegaly", "B.", "B)", "Option B", "option b",
                                        "the answer is B", "The answer is b.", "Answer: (B)",
                                        "A pneumothorax is not seen, so (B)", tagged("B")])
def test_closed_option(completion):
    assert closed(completion, "B") == 1.0
    assert closed(completion, "(B) Cardiomegaly") == 1.0
    assert closed(completion, "C") == 0.0


@pytest.mark.parametrize("completion", ["B or C", "(B) and (C)", "A and B", "C", "yes", "", "the answer is a nodule"])
def test_closed_option_rejects(completion):
    assert closed(completion, "B") == 0.0


def test_closed_article_a_is_not_an_option():
    assert closed("A", "A") == 1.0
    assert closed("A pneumothorax", "A") == 0.0
    assert closed("yes", "pleural effusion") == 0.0  # the reference has no decision


# ---------------------------------------------------------------------------------- open_match
@pytest.mark.parametrize("completion,reference", [
    ("Pleural Effusion.", "pleural effusion"),
    ("PLEURAL EFFUSIONS!", "pleural effusion"),
    ("enlarged heart", "cardiomegaly"),
    ("The heart is enlarged.", "cardiomegaly"),
    ("fluid in the pleural space", "pleural effusion"),
    ("collapsed lung", "pneumothorax"),
    ("AFib", "atrial fibrillation"),
    ("a-fib", "atrial fibrillation"),
    ("NSR", "normal sinus rhythm"),
    ("lung nodules", "pulmonary nodule"),
    ("a pulmonary mass", "pulmonary nodule"),
    ("right hepatic lobe", "right lobe of the liver"),
    ("Right liver lobe", "right lobe of the liver"),
    ("the left kidney", "left kidney"),
    ("left renal", "left kidney"),
    ("left mid zone", "left middle zone"),
    ("cardiomegaly and pleural effusion", "pleural effusion, cardiomegaly"),
    ("unremarkable", "normal"),
    ("No abnormalities.", "normal"),
    ("bilateral effusions", "left and right pleural effusion"),
    (tagged("Atrial fibrillation"), tagged("atrial fibrillation", "irregular RR")),
])
def test_open_match_full(completion, reference):
    assert open_(completion, reference) == pytest.approx(1.0)


@pytest.mark.parametrize("completion,reference", [
    ("left kidney", "right kidney"),                     # wrong side
    ("kidney", "right kidney"),                          # no side
    ("left or right kidney", "right kidney"),            # hedged side
    ("right lower zone", "left middle zone"),
    ("left pleural effusion", "bilateral pleural effusion"),
    ("no pneumothorax", "pneumothorax"),                 # negation
    ("there is no pleural effusion", "pleural effusion"),
    ("cardiomegaly", "normal"),
    ("<think>pleural effusion</think><answer>pneumothorax</answer>", "pleural effusion"),  # outside the block
    ("<think>pleural effusion</think>", "pleural effusion"),
    ("", "pleural effusion"), ("   \n", "pleural effusion"), ("pleural effusion", ""),
])
def test_open_match_zero(completion, reference):
    assert open_(completion, reference) == 0.0


def test_open_match_partial():
    assert open_("sinus tachycardia", "sinus bradycardia") == pytest.approx(0.5)
    assert 0.0 < open_("a lesion in the left kidney", "left kidney") < 1.0
    assert 0.0 < open_("effusion", "pleural effusion, cardiomegaly") < 1.0
    assert open_("left pleural effusion", "pleural effusion") < 1.0  # a side the reference lacks is extra tokens
    t = time.perf_counter()
    assert open_(GARBAGE, "pleural effusion") < 0.1
    assert time.perf_counter() - t < 2


def test_synonym_table_is_data():
    from medmllm.rewards.openended import SYNONYMS

    assert SYNONYMS["cardiomegaly"] and "afib" in SYNONYMS["atrial fibrillation"]
    assert sum(len(v) for v in SYNONYMS.values()) >= 60


# ---------------------------------------------------------------------------------- numeric
@pytest.mark.parametrize("completion,reference,expected", [
    ("0.43", "0.43", 1.0),
    (tagged("0.44"), tagged("0.43", "11.5 / 26.7"), 1.0),          # within max(5%, 0.02)
    ("The CTR is 0.45.", "0.43", 1.0),
    ("0.52", "0.43", 0.0),                                         # beyond 4x tolerance
    ("2.5 cm", "25 mm", 1.0), ("25mm", "2.5 cm", 1.0), ("26 millimetres", "25 mm", 1.0),
    ("25 cm", "25 mm", 0.0),
    ("25 bpm", "25 mm", 0.0),                                      # different dimension
    ("120 beats per minute", "118 bpm", 1.0), ("118", "118 bpm", 1.0),
    ("43%", "0.43", 1.0), ("0.43", "43%", 1.0),
    ("0.6 s", "600 ms", 1.0),
    ("3", "3", 1.0), ("3 lesions", "3", 1.0), ("three lesions", "3", 1.0), ("none", "0", 1.0),
    ("4", "3", 0.0), ("3.2", "3", 0.0), ("2", "3", 0.0),           # counts are exact
    ("26 mm, then 40 mm", "26 mm", 1.0),                           # the first number
    ("-3", "3", 0.0),
    ("<think>26 mm</think><answer>unknown</answer>", "26 mm", 0.0),  # number only in the reasoning
    ("no number here", "3", 0.0), ("3", "no number", 0.0), ("", "0.43", 0.0), ("  ", "0.43", 0.0),
])
def test_numeric(completion, reference, expected):
    assert numeric(completion, reference) == pytest.approx(expected)


def test_numeric_linear_decay_and_keywords():
    tol = 0.05 * 100
    assert numeric("107.5", "100 bpm") == pytest.approx(1 - 2.5 / 15)      # 1.5 tol past -> 5/6
    assert numeric("110", "100 bpm") == pytest.approx(1 - 5 / 15)
    assert numeric(str(100 + 4 * tol), "100 bpm") == 0.0
    assert numeric("0.47", "0.43") == pytest.approx(1 - (0.04 - 0.0215) / (3 * 0.0215))
    assert numeric("0.47", "0.43", rel_tol=0.1) == 1.0
    assert numeric("0.45", "0.43", rel_tol=0.0, abs_tol=0.0) == 0.0
    assert numeric("0.09", "0.0") == 0.0 and numeric("0.05", "0.0") == pytest.approx(0.5) and numeric("0.02", "0.0") == 1.0   # abs tol for ratios <= 1
    assert numeric("100", "98") == 0.0                                      # a count by default
    assert numeric("100", "98", count=False) == 1.0
    assert numeric("3.1", "3.0", count=True) == 0.0
    assert numeric(GARBAGE, "7") == 0.0


# ---------------------------------------------------------------------------------- report_labels
def test_report_labels():
    ref = "Cardiomegaly. Left pleural effusion. No pneumothorax."
    assert report(ref, ref) == 1.0
    assert report(tagged("Enlarged heart. Left pleural effusion. No pneumothorax."), ref) == 1.0
    assert report("Hello.", "Thanks.") == 1.0                                # neither mentions anything
    half = report("Cardiomegaly. No pleural effusion. No pneumothorax.", ref)
    assert 0.0 < half < 1.0
    assert report("Large right pneumothorax.", "No pneumothorax.") < 1.0
    assert report("", ref) == 0.0 and report("  \n ", "No pneumothorax.") == 0.0
    assert report("<think>Cardiomegaly. Left pleural effusion.</think><answer>Normal.</answer>", ref) < 1.0


def test_report_labels_fraction():
    from medmllm.chexpert import label

    a, r = "Cardiomegaly. No pleural effusion.", "Cardiomegaly. Left pleural effusion. Pneumothorax."
    la, lr = label(a), label(r)
    mentioned = [k for k in lr if la[k] is not None or lr[k] is not None]
    agree = sum((la[k] in (1, -1)) == (lr[k] in (1, -1)) for k in mentioned)
    assert report(a, r) == pytest.approx(agree / len(mentioned)) and agree < len(mentioned)


# ---------------------------------------------------------------------------------- answer_match
@pytest.mark.parametrize("completion,reference,expected", [
    (tagged("Yes."), tagged("yes"), 1.0), (tagged("no"), "yes", 0.0),              # yes/no: closed_match
    (tagged("yes, and no"), "yes", 0.0), ("<answer>yes</answer><think>no</think>", "yes", 1.0),
    ("<think>yes</think>", "yes", 0.0),                                         # the answer only in the reasoning
    ("</answer>yes<answer>", "yes", 0.0), (tagged(""), "no", 0.0),              # tags out of order, empty answer
    (tagged("(c)"), "C", 1.0), (tagged("B"), "B. Cardiomegaly", 1.0), (tagged("C"), "B. Cardiomegaly", 0.0),
    (tagged("0.44"), tagged("0.43"), 1.0), (tagged("3"), "3", 1.0), (tagged("2"), "3", 0.0),  # numeric, counts
    (tagged("yes"), "0.43", 0.0),
    (tagged("enlarged heart"), "cardiomegaly", 1.0), (tagged("left"), "right", 0.0),  # open_match, side
    (tagged("no pneumothorax"), "No pneumothorax.", 1.0),
])
def test_answer_match_grades_by_reference_kind(completion, reference, expected):
    assert answer(completion, reference) == pytest.approx(expected)


def test_answer_match_partial_numeric_and_kinds():
    assert answer(tagged("0.50"), "0.43") == pytest.approx(numeric(tagged("0.50"), "0.43")) and 0 < answer(tagged("0.50"), "0.43") < 1
    assert answer(tagged("no"), "no pneumothorax") == open_(tagged("no"), "no pneumothorax") < 1  # not a yes/no question
    assert [rewards.answer.kind(r) for r in ("Yes.", tagged("no"), "(B)", "12 mm", "2", "left lower lobe", "no effusion")] \
        == ["closed", "closed", "closed", "numeric", "numeric", "open", "open"]


# ---------------------------------------------------------------------------------- every reward
@pytest.mark.parametrize("reward", ALL, ids=lambda f: f.__name__)
def test_bounds_on_adversarial_inputs(reward):
    for completion in ("", "   \n\t ", GARBAGE, "<answer>", "</think>", "<think></think><answer></answer>", "\x00"):
        for reference in ("yes", "0.43", "left kidney", tagged("no"), "Cardiomegaly.", ""):
            value = reward(completion, reference)
            assert isinstance(value, float) and 0.0 <= value <= 1.0
        assert reward("   ", "yes") == 0.0
    t = time.perf_counter()
    reward(GARBAGE, "Cardiomegaly. Left pleural effusion.")
    assert time.perf_counter() - t < 2


# ---------------------------------------------------------------------------------- registry and combine
@pytest.fixture
def user_reward():
    name = "test_rewards_mine"
    try:
        @medmllm.rewards.register(name)
        def mine(completion: str, reference: str) -> float:
            return 1.0 if "please" in completion else 0.0

        yield name
    finally:
        rewards.REWARDS._items.pop(name, None)


def test_names_and_package_attribute():
    assert {"format", "closed_match", "open_match", "numeric", "report_labels", "answer_match"} <= set(rewards.names())
    assert medmllm.rewards.get("format") is rewards.format_reward
    assert rewards.get("numeric") is rewards.numeric


def test_get_unknown_lists_names():
    with pytest.raises(MedMLLMError) as err:
        rewards.get("exact_match_typo")
    message = str(err.value)
    assert "\n" not in message and "exact_match_typo" in message
    for name in ("closed_match", "format", "numeric", "open_match", "report_labels"):
        assert name in message


def test_user_registration(user_reward):
    assert user_reward in rewards.names()
    assert rewards.get(user_reward)("please", "") == 1.0
    with pytest.raises(ValueError):
        rewards.register(user_reward)(lambda c, r: 0.0)
    both = rewards.combine({user_reward: 1, "closed_match": 1})
    assert both("please <answer>yes</answer>", "yes") == 1.0
    assert both("<answer>yes</answer>", "yes") == 0.5


def test_combine_weights():
    reward = rewards.combine({"format": 1, "closed_match": 3})
    assert reward.weights == {"format": 0.25, "closed_match": 0.75}
    assert reward(tagged("yes"), "yes") == 1.0
    assert reward(tagged("no"), "yes") == pytest.approx(0.25)
    assert reward("Sure. " + tagged("yes"), tagged("yes")) == pytest.approx(0.25 * 0.5 + 0.75)
    assert reward("yes", "yes") == pytest.approx(0.75)
    assert rewards.combine({"numeric": 2.0})("0.43", "0.43") == 1.0
    assert rewards.combine({"numeric": 1, "format": 0})("0.43", "0.43") == 1.0  # zero weight: ignored


@pytest.mark.parametrize("completion,reference", [
    (tagged("yes"), "yes"), ("Sure. " + tagged("no"), tagged("yes")), ("<answer>0.45</answer>", "0.43"),
    ("<think>0.43</think><answer>0.5 cm</answer>", tagged("5 mm")), ("", "yes"),
])
def test_combine_scores_are_the_rewards_and_their_weighted_mean(completion, reference):
    weights = {"format": 1, "closed_match": 2, "numeric": 0, "open_match": 1}
    reward = rewards.combine(weights)
    scores = reward.scores(completion, reference)
    weighted = ("format", "closed_match", "open_match")  # numeric's zero weight drops it
    assert scores == {name: rewards.get(name)(completion, reference) for name in weighted}
    mean = (scores["format"] + 2 * scores["closed_match"] + scores["open_match"]) / 4
    assert reward(completion, reference) == pytest.approx(mean, abs=1e-12)
    assert reward.mean(scores) == reward(completion, reference)
    assert isinstance(reward, rewards.Combined) and reward.__name__ == "combined_format_closed_match_open_match"


def test_checked():
    assert rewards.checked("x", 1) == 1.0 and isinstance(rewards.checked("x", 1), float)
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(MedMLLMError, match="reward 'x' returned .*outside"):
            rewards.checked("x", bad)


@pytest.mark.parametrize("weights,needle", [
    ({"format": 1, "nope": 1}, "choose from"),
    ({"format": -1, "closed_match": 2}, "negative"),
    ({"format": 0, "closed_match": 0.0}, "all zero"),
    ({}, "non-empty"),
    ({"format": float("nan")}, "finite"),
    ({"format": "1"}, "finite"),
])
def test_combine_rejects(weights, needle):
    with pytest.raises(MedMLLMError, match=needle):
        rewards.combine(weights)


def test_combine_zero_weight_never_called_and_range_checked():
    name = "test_rewards_broken"
    try:
        rewards.register(name)(lambda c, r: 1.5)
        assert rewards.combine({"format": 1, name: 0})(tagged("x"), "") == 1.0
        with pytest.raises(MedMLLMError, match=name):
            rewards.combine({"format": 1, name: 1})(tagged("x"), "")
        with pytest.raises(MedMLLMError, match=name):
            rewards.combine({"format": 1, name: 1}).scores(tagged("x"), "")
    finally:
        rewards.REWARDS._items.pop(name, None)


def test_import_is_light():
    code = ("import sys, medmllm; medmllm.rewards.get('format'); "
            "print(sorted(m for m in ('torch', 'transformers', 'numpy', 'medmllm.chexpert') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------- real MedSynth records
_NUMBER_ANSWER = re.compile(r"-?\d+(?:\.\d+)?(?:\s*(?:mm|cm|bpm|%))?")


@pytest.fixture(scope="module")
def medsynth(tmp_path_factory):
    from medmllm.synth import synthesize

    out = tmp_path_factory.mktemp("medsynth")
    paths = synthesize(out, n=16, seed=3)
    records = {"reason": [], "vqa": [], "report": []}
    for name, path in paths.items():
        task = next((t for t in records if f"_{t}_" in str(path)), None)
        if task:
            records[task] += [json.loads(line) for line in open(path, encoding="utf-8")]
    assert all(records.values()), {k: len(v) for k, v in records.items()}
    return records


def _gpt(record: dict) -> str:
    return record["conversations"][-1]["value"]


def _reward_for(answer: str, answer_type: str):
    if answer_type == "CLOSED":
        return closed, "closed"
    if _NUMBER_ANSWER.fullmatch(answer.strip()):
        return numeric, "numeric"
    return open_, "open"


def _wrong(answer: str, kind: str) -> str:
    if kind == "closed":
        return {"yes": "no", "no": "yes"}[answer]
    if kind == "numeric":
        number, unit = re.fullmatch(r"(-?\d+(?:\.\d+)?)(.*)", answer.strip()).groups()
        return f"{float(number) * 2 + 5:g}{unit}"
    if "left" in answer or "right" in answer:
        return answer.replace("left", "@").replace("right", "left").replace("@", "right")
    return "pneumothorax" if answer == "normal" else "normal"


def test_medsynth_reasoning_records(medsynth):
    kinds = set()
    for rec in medsynth["reason"]:
        gpt, meta = _gpt(rec), rec["meta"]
        assert fmt(gpt, "") == 1.0, gpt
        reward, kind = _reward_for(meta["answer"], meta["answer_type"])
        kinds.add(kind)
        for reference in (gpt, meta["answer"]):
            assert reward(gpt, reference) == 1.0, (kind, gpt, reference)
            wrong = tagged(_wrong(meta["answer"], kind), meta["rationale"])
            assert fmt(wrong, "") == 1.0
            assert reward(wrong, reference) < 1.0, (kind, wrong, reference)
        assert reward("<think>" + meta["rationale"] + "</think>", gpt) == 0.0  # no answer block
    assert kinds == {"closed", "numeric"}


def test_medsynth_vqa_records(medsynth):
    kinds = {}
    for rec in medsynth["vqa"]:
        answer, meta = _gpt(rec), rec["meta"]
        assert answer == meta["answer"]
        reward, kind = _reward_for(answer, meta["answer_type"])
        kinds[kind] = kinds.get(kind, 0) + 1
        wrong = _wrong(answer, kind)
        assert reward(answer, answer) == 1.0, (kind, answer)
        assert reward(tagged(answer), answer) == 1.0, (kind, answer)
        assert reward(answer.upper() + ".", answer) == 1.0, (kind, answer)
        assert reward(wrong, answer) < 1.0, (kind, wrong, answer)
        assert fmt(answer, "") == 0.0
    assert set(kinds) == {"closed", "numeric", "open"}, kinds


def test_medsynth_reports(medsynth):
    xray = [rec for rec in medsynth["report"] if rec["meta"]["modality"] == "xray"]
    assert xray
    for rec in xray:
        text, normal = _gpt(rec), rec["meta"]["findings"]["normal"]
        assert report(text, text) == 1.0
        wrong = "Large left pneumothorax. Cardiomegaly." if normal else \
            "The lungs are clear. No pleural effusion. No pneumothorax. Heart size is normal."
        assert report(wrong, text) < 1.0, (wrong, text)
