"""`medmllm score`: reading predictions files, VQA/report scoring, unavailable metrics, and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from medmllm.errors import MedMLLMError
from medmllm.eval import score as S
from medmllm.eval.metrics import METRICS

VQA = [
    {"id": "q1", "pred": "Yes, there is a nodule.", "ref": "no", "answer_type": "CLOSED", "question": "Normal?"},
    {"id": "q2", "pred": "<think>no idea</think><answer>yes</answer>", "ref": "yes", "answer_type": "CLOSED"},
    {"id": "q3", "pred": "left", "ref": "left", "answer_type": "closed"},
    {"id": "q4", "pred": "left left", "ref": "left lower lobe", "answer_type": "OPEN"},
    {"id": "q5", "pred": "The X-ray.", "ref": "x-ray", "answer_type": "OPEN"},
]


def _write(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_vqa_conventions_differ_on_the_same_predictions(tmp_path):
    f = _write(tmp_path / "p.jsonl", VQA)
    got = {c: S.score_file("vqa", f, convention=c)["metrics"] for c in ("llava-med", "llava-med-gated",
                                                                         "multimedeval", "exact")}
    assert got["llava-med"]["closed_accuracy"] == 1.0  # "no" is a substring of "nodule"
    assert got["llava-med-gated"]["closed_accuracy"] == pytest.approx(2 / 3)  # "left" has no yes/no
    assert got["multimedeval"]["closed_accuracy"] == 0.5  # q3 is open for MultiMedEval (gt not yes/no)
    assert got["exact"]["closed_accuracy"] == pytest.approx(2 / 3)
    assert got["llava-med"]["open_recall"] == pytest.approx((2 / 4 + 1) / 2)
    assert got["exact"]["open_recall"] == 0.5
    result = S.score_file("vqa", f)
    assert result["convention"] == "llava-med" and result["n"] == 5 and result["counts"]["open_recall"] == 2
    assert result["per_sample"]["closed_accuracy"] == [1.0, 1.0, 1.0, None, None]
    assert result["ids"] == ["q1", "q2", "q3", "q4", "q5"]


def test_report_metrics_unavailable_and_tokenize(tmp_path, monkeypatch):
    calls = {}

    def new_style(preds, refs, *, tokenize="ptb"):
        calls["tokenize"] = tokenize
        return 0.5, [0.5] * len(preds)

    def no_java(preds, refs, *, tokenize="ptb"):
        raise MedMLLMError("METEOR needs Java (java not found on PATH)")

    def old_style(preds, refs):
        return 0.25, [0.25] * len(preds)

    for name, fn in {"t_new": new_style, "t_meteor": no_java, "t_old": old_style}.items():
        monkeypatch.setitem(METRICS._items, name, fn)
    monkeypatch.setattr(S, "REPORT_METRICS", ("t_new", "t_meteor", "t_old", "t_missing"))
    f = _write(tmp_path / "r.jsonl", [{"id": 1, "pred": "small effusion", "ref": ["small effusion", "effusion"]},
                                      {"pred": "no effusion", "ref": "no pleural effusion"}])
    out = S.score_file("report", f)
    assert out["metrics"] == {"t_new": 0.5, "t_old": 0.25} and calls["tokenize"] == "ptb"
    assert out["unavailable"]["t_meteor"].startswith("METEOR needs Java")
    assert "t_missing" in out["unavailable"]
    out = S.score_file("report", f, tokenize="r2gen")
    assert calls["tokenize"] == "r2gen" and "no tokenize option" in out["unavailable"]["t_old"]
    assert out["ids"] == [1, f"{f}:2"] and set(out["versions"]) >= {"medmllm"}


@pytest.mark.parametrize("lines, message", [
    (['{"pred": "yes", "ref": "yes", "answer_type": "CLOSED"}', '{"pred": "yes"'], r"p.jsonl:2: not valid JSON"),
    (['{"pred": "yes", "answer_type": "CLOSED"}'], r"p.jsonl:1: no 'ref' key"),
    (['{"ref": "yes", "answer_type": "CLOSED"}'], r"p.jsonl:1: no 'pred' key"),
    (['{"pred": "yes", "ref": "yes"}'], r"p.jsonl:1: 'answer_type' must be CLOSED or OPEN"),
    (['{"pred": "yes", "ref": ["yes"], "answer_type": "OPEN"}'], r"p.jsonl:1: 'ref' must be a string"),
    (['[1, 2]'], r"p.jsonl:1: a record must be a JSON object"),
    (["", " "], r"p.jsonl: no records"),
])
def test_bad_input_names_file_and_line(tmp_path, lines, message):
    f = _write(tmp_path / "p.jsonl", lines)
    with pytest.raises(MedMLLMError, match=message):
        S.score_file("vqa", f)


def test_bad_options(tmp_path):
    f = _write(tmp_path / "p.jsonl", VQA)
    with pytest.raises(MedMLLMError, match="no such file"):
        S.score_file("vqa", tmp_path / "missing.jsonl")
    with pytest.raises(MedMLLMError, match="--convention: 'vqa-v2' is not one of"):
        S.score_file("vqa", f, convention="vqa-v2")
    with pytest.raises(MedMLLMError, match="--tokenize: 'bpe' is not one of"):
        S.score_file("report", f, tokenize="bpe")
    with pytest.raises(MedMLLMError, match="--convention applies to `score vqa`"):
        S.score_file("report", f, convention="exact")
    with pytest.raises(MedMLLMError, match="TASK: 'caption' is not one of"):
        S.score_file("caption", f)
    # multimedeval needs no answer_type: it decides closed from the reference
    f2 = _write(tmp_path / "q.jsonl", [{"pred": "no", "ref": "No"}, {"pred": "left", "ref": "left lung"}])
    assert S.score_file("vqa", f2, convention="multimedeval")["counts"]["closed_accuracy"] == 1


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "medmllm.cli", "score", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_json_and_bad_input(tmp_path):
    f = _write(tmp_path / "p.jsonl", VQA)
    run = _cli("vqa", f, "--convention", "llava-med-gated", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["convention"] == "llava-med-gated" and out["n"] == 5
    assert out["metrics"]["closed_accuracy"] == pytest.approx(2 / 3)
    assert set(out) >= {"metrics", "per_sample", "convention", "versions", "n", "unavailable"}
    assert out["versions"]["medmllm"]

    bad = _write(tmp_path / "bad.jsonl", [VQA[0], '{"pred": "yes", "ref": '])
    run = _cli("vqa", bad)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [f"error: {bad}:2: not valid JSON (Expecting value at column 24)"]
    assert "Traceback" not in run.stderr
