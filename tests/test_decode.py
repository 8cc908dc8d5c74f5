"""The fast decode path (`medmllm/decode.py`): greedy tokens equal `model.generate()`'s for llama,
qwen2 (q/k/v bias), mistral and a peft LoRA model, with mixed prompt lengths and rows ending at
different steps (finished rows dropped); sampling is seeded-reproducible; a failing compile warns
and goes on eagerly; an LLM family it does not know goes through `generate()`."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import medmllm.decode as D
from medmllm.data.collate import collate
from medmllm.engine import Engine, Row

QUESTIONS = ["Describe it.", "Is there a pleural effusion in the left lung?", "Heart size?",
             "Any pneumothorax now, or a fracture of the ribs on this film?", "Lines?"]


def _engine(model_type: str) -> Engine:
    from tiny import tiny_model_dict

    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict

    spec = tiny_model_dict(("image",))
    spec["llm"]["config"] = {**spec["llm"]["config"], "model_type": model_type}
    texts = ["Is there a pleural effusion? yes no", "The heart size is normal. No pneumothorax."] * 20
    with torch.random.fork_rng():  # the same weights every time, other tests' random state untouched
        torch.manual_seed(0)
        return Engine(*build_model(from_dict(ModelConfig, spec), texts))


@pytest.fixture(scope="module", params=["llama", "qwen2", "mistral"])
def engine(request) -> Engine:
    return _engine(request.param)


@pytest.fixture(scope="module")
def llama() -> Engine:
    return _engine("llama")


def _batch(engine: Engine, n: int = 5) -> dict:
    rng = np.random.default_rng(0)
    samples = [engine.sample(QUESTIONS[i % len(QUESTIONS)], {"image": [rng.random((40, 40)).astype(np.float32)]})
               for i in range(n)]
    return collate([{k: v for k, v in s.items() if k != "labels"} for s in samples],
                   engine.processor.tokenizer.pad_token_id, left_pad=True)


def _reference(model, batch: dict, budgets: list[int], eos: int) -> list[list[int]]:
    """`generate()`'s greedy tokens, each row cut at its budget or after its end token."""
    out = model.generate(**batch, max_new_tokens=max(budgets), do_sample=False, pad_token_id=1, eos_token_id=eos)
    rows = []
    for row, budget in zip(out[:, batch["input_ids"].shape[1]:].tolist(), budgets):
        row = row[:budget]
        rows.append(row[:row.index(eos) + 1] if eos in row else row)
    return rows


def _ours(model, batch: dict, budgets: list[int], eos: int, compile: bool = False,
          sampling: D.Sampling | None = None) -> list[list[int]]:
    rows: list[list[int]] = [[] for _ in budgets]

    def on_tokens(idx, tokens):
        for i, t in zip(idx, tokens):
            rows[i].append(t)
        return [t == eos or len(rows[i]) >= budgets[i] for i, t in zip(idx, tokens)]

    D.decode(model, batch, max(budgets), on_tokens, sampling or D.Sampling(), compile=compile, pad_token_id=1, eos_token_id=eos)
    return rows


@torch.inference_mode()
def test_greedy_tokens_equal_generate_and_finished_rows_are_dropped(engine, monkeypatch):
    buckets = []
    compact = D._Loop._compact
    monkeypatch.setattr(D._Loop, "_compact", lambda self, keep: (buckets.append(len(keep)), compact(self, keep)))
    batch, eos = _batch(engine), engine.processor.tokenizer.eos_token_id
    assert len(set(batch["attention_mask"].sum(1).tolist())) > 1  # prompts of different lengths
    budgets = [3, 20, 9, 14, 1]
    assert _ours(engine.model, batch, budgets, eos) == _reference(engine.model, batch, budgets, eos)
    assert buckets and buckets[0] < 5  # rows that ended were dropped from the batch


@torch.inference_mode()
def test_peft_lora_model_decodes_with_its_adapter(llama):
    from peft import LoraConfig, get_peft_model

    with torch.random.fork_rng():
        peft_model = get_peft_model(llama.model.llm, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 0.5)
    try:
        batch, eos = _batch(llama), llama.processor.tokenizer.eos_token_id
        budgets = [12] * 5
        assert _ours(llama.model, batch, budgets, eos) == _reference(llama.model, batch, budgets, eos)
    finally:
        llama.model.llm = peft_model.unload()


@torch.inference_mode()
def test_compiled_step_gives_the_eager_tokens(llama):
    batch, eos = _batch(llama, 2), llama.processor.tokenizer.eos_token_id
    budgets = [8, 8]  # one graph (batch > 1): a cold compile costs 10-70 s on a busy 2-core machine
    assert _ours(llama.model, batch, budgets, eos, compile=True) == _reference(llama.model, batch, budgets, eos)


@torch.inference_mode()
def test_sampling_is_seeded_reproducible(llama):
    batch, eos = _batch(llama), llama.processor.tokenizer.eos_token_id
    runs = []
    for sampling in (D.Sampling(True, 0.7), D.Sampling(True, 0.7), D.Sampling(True, 1.3, 0.9), D.Sampling(True, 1.3, 0.9)):
        with torch.random.fork_rng():
            torch.manual_seed(3)
            runs.append(_ours(llama.model, batch, [10] * 5, eos, sampling=sampling))
    assert runs[0] == runs[1] and runs[2] == runs[3] and runs[0] != runs[2]


def test_sampling_draws_from_generates_distribution():
    """Temperature then top-p, as transformers' warpers: the same support, frequencies within noise."""
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    with torch.random.fork_rng():
        torch.manual_seed(0)
        logits = torch.randn(1, 50)
        want = TopPLogitsWarper(0.8)(None, TemperatureLogitsWarper(0.7)(None, logits.clone())).softmax(-1)[0]
        n = 100_000
        got = torch.bincount(D.pick(logits.expand(n, 50).contiguous(), D.Sampling(True, 0.7, 0.8)), minlength=50) / n
    assert torch.equal(got > 0, want > 0) and (got - want).abs().max() < 0.01


@torch.inference_mode()
def test_a_failing_compile_warns_once_and_decodes_eagerly(llama, monkeypatch):
    def broken(*args):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(D, "_compiled", broken)
    monkeypatch.setattr(D, "_failed", False)
    batch, eos = _batch(llama, 2), llama.processor.tokenizer.eos_token_id
    with pytest.warns(UserWarning, match="decoding eagerly"):
        got = _ours(llama.model, batch, [8, 8], eos, compile=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        again = _ours(llama.model, batch, [8, 8], eos, compile=True)
    assert got == again == _reference(llama.model, batch, [8, 8], eos)


def test_engine_rows_are_the_same_through_generate_and_the_fast_path(llama, monkeypatch):
    """Stop strings, budgets and streaming through `Engine.run`: the fast path and the
    `generate()` fallback (an LLM family the fast path does not know) agree."""
    def rows(pieces):
        return [Row(llama.sample(q), max_new_tokens=b, stop=s, on_text=p.append)
                for q, b, s, p in zip(QUESTIONS, (4, 16, 9, 12, 16), ((), ("e",), (), (" ",), ()), pieces)]

    fast_pieces, slow_pieces = [[] for _ in QUESTIONS], [[] for _ in QUESTIONS]
    fast = llama.run(rows(fast_pieces))
    called = []
    monkeypatch.setattr(D, "FAMILIES", ())
    monkeypatch.setattr(D, "_generate", lambda *a: (called.append(1), _generate(*a))[1])
    slow = llama.run(rows(slow_pieces))
    assert called and fast == slow and fast_pieces == slow_pieces


_generate = D._generate
