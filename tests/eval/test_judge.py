"""LLM-as-judge against a local stdlib OpenAI-compatible server that grades by string equality."""
from __future__ import annotations

import re
import socket

import pytest

from medmllm.errors import MedMLLMError
from tiny import chat_server
from medmllm.eval.judge import JUDGE_PROMPT, JUDGE_PROMPT_SHA, judge, judge_convention, parse_verdict

_FIELDS = re.compile(r"Question: (.*)\nReference answer: (.*)\nCandidate answer: (.*)\Z", re.S)


@pytest.fixture
def server():
    """Replies "1" when the prompt's candidate equals its reference, "0" otherwise, garbage for "???"."""
    def reply(body):
        question, ref, pred = _FIELDS.search(body["messages"][-1]["content"]).groups()
        return "I cannot say." if pred == "???" else "Verdict: 1" if pred.lower() == ref.lower() else "0"

    srv = chat_server(reply)
    yield srv
    srv.shutdown()
    srv.server_close()


ITEMS = [
    {"question": "Is there a pleural effusion?", "ref": "yes", "pred": "yes"},
    {"question": "Which lobe?", "ref": "right lower lobe", "pred": "left upper lobe"},
    {"question": "Heart size?", "ref": "normal", "pred": "???"},
    {"question": "Modality?", "ref": "CT", "pred": "ct", "answer": "MRI"},
    {"question": "What is shown? <image>", "ref": "pneumothorax", "pred": "pneumothorax"},
]


def test_scores_and_unparseable(server):
    url = f"http://127.0.0.1:{server.server_port}/v1"
    scores = judge(ITEMS, url, "judge-model", concurrency=3)
    assert list(scores) == [1.0, 0.0, 0.0, 1.0, 1.0]
    assert scores.unparseable == 1 and scores.replies[2] == "I cannot say."
    assert len(server.seen) == len(ITEMS)
    for body in server.seen:  # one user turn holding the fixed prompt, temperature 0
        assert body["model"] == "judge-model" and body["temperature"] == 0.0
        assert len(body["messages"]) == 1 and body["messages"][0]["role"] == "user"
        assert body["messages"][0]["content"].startswith(JUDGE_PROMPT.split("{")[0])
    assert "judge-model" in scores.convention and JUDGE_PROMPT_SHA in scores.convention
    assert scores.convention == judge_convention("judge-model") and "temperature 0" in scores.convention


def test_other_field_and_multiple_references(server):
    url = f"http://127.0.0.1:{server.server_port}"  # /v1/chat/completions is appended
    assert list(judge(ITEMS[3:4], url, "m", field="answer")) == [0.0]
    scores = judge([{"question": "q", "ref": ["a", "b"], "pred": "a"}], url, "m", concurrency=1)
    assert list(scores) == [0.0] and "a | b (any of these)" in server.seen[-1]["messages"][0]["content"]
    assert judge([], url, "m") == []


def test_parse_verdict():
    assert parse_verdict("1") == 1.0 and parse_verdict("0") == 0.0 and parse_verdict("Score: 1.") == 1.0
    assert parse_verdict("The answer is 0 (wrong); 1 would be right") == 0.0
    assert parse_verdict("0.5") is None and parse_verdict("10") is None and parse_verdict("yes") is None
    assert parse_verdict("") is None


def test_unreachable_endpoint_is_one_line():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(MedMLLMError, match="unreachable") as err:
        judge(ITEMS[:2], f"http://127.0.0.1:{port}/v1", "m", retries=1, timeout=2)
    assert "\n" not in str(err.value) and str(port) in str(err.value)


def test_missing_keys():
    with pytest.raises(MedMLLMError, match="item 1 has no 'ref'"):
        judge([ITEMS[0], {"pred": "x"}], "http://127.0.0.1:9/v1", "m")
