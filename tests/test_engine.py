"""`Engine.run`: rows of one batch end on their own (budget, stop string, cancel), stream pieces
that add up to the answer, and greedy rows give the same text alone or batched."""
from __future__ import annotations

import numpy as np
import pytest

from medmllm.engine import Engine, Row, _settled


@pytest.fixture(scope="module")
def engine():
    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict
    from tiny import tiny_model_dict

    texts = ["Is there a pleural effusion? yes no", "The heart size is normal. No pneumothorax."] * 20
    return Engine(*build_model(from_dict(ModelConfig, tiny_model_dict()), texts))


def _sample(engine, text="Describe it.", seed=0):
    image = np.random.default_rng(seed).random((40, 40)).astype(np.float32)
    return engine.sample(text, {"image": [image]})


def test_rows_end_on_their_own_and_stream_what_they_answer(engine):
    pieces = [[], [], []]
    rows = [Row(_sample(engine, seed=i), max_new_tokens=budget, on_text=pieces[i].append)
            for i, budget in enumerate((3, 12, 7))]
    outs = engine.run(rows)
    for out, row, got in zip(outs, rows, pieces):
        assert "".join(got) == out.text
        assert out.completion_tokens <= row.max_new_tokens
        assert out.finish_reason == "length" or out.completion_tokens < row.max_new_tokens
    assert outs[0].completion_tokens == 3 and outs[0].finish_reason == "length"


def test_greedy_rows_are_the_same_alone_and_batched(engine):
    samples = [_sample(engine, q, seed=i) for i, q in enumerate(["Describe it.", "Is there a pleural effusion?",
                                                                 "Heart size?", "Any pneumothorax now?"])]
    alone = [engine.generate([s], max_new_tokens=10)[0] for s in samples]
    assert engine.generate(samples, max_new_tokens=10) == alone


def test_a_cancelled_row_stops_and_the_others_go_on(engine):
    calls = {"n": 0}

    def cancel_after_two():
        calls["n"] += 1
        return calls["n"] > 2

    rows = [Row(_sample(engine), 10, cancelled=cancel_after_two), Row(_sample(engine, seed=1), 10)]
    cancelled, other = engine.run(rows)
    assert cancelled.finish_reason == "cancelled" and cancelled.completion_tokens == 3
    assert other.completion_tokens > 3 or other.finish_reason == "stop"


def test_stop_strings_cut_the_answer_before_them(engine):
    sample = _sample(engine)
    full = engine.run([Row(sample, 16)])[0].text
    assert len(full) > 4, full
    stop = full[2:4]
    pieces = []
    out = engine.run([Row(sample, 16, stop=(stop,), on_text=pieces.append)])[0]
    assert out.text == full[: full.find(stop)].rstrip() and out.finish_reason == "stop"
    assert "".join(pieces) == out.text


def test_settled_holds_back_a_possible_stop_and_trailing_space():
    assert _settled("yes the", ("the end",)) == 3  # "the" may begin "the end"; the space before it too
    assert _settled("abc \ufffd", ()) == 3
    assert _settled("plain text", ("STOP",)) == len("plain text")
