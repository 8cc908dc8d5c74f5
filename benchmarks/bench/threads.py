"""Threads: the demo model's `chat()` and a training step of 16, with the thread count medmllm
chooses (`medmllm/threads.py`: the cores other processes leave free) against torch's default (one
thread per core, fixed with MEDMLLM_THREADS). The runner runs this section quiet and again with one
core held busy, so its "busy ×" column is the issue's target: at most 2.5x the quiet time.

    .venv/bin/python benchmarks/bench/threads.py --reps 3 --json /tmp/threads.json [--data DIR]

One process, the two configurations interleaved: before each block the count is chosen afresh
(a first look at the machine, as a new process makes) or fixed, and `Engine.run` / the training
step call `adjust()` as they always do. Untrained demo-size weights (`_model.py`; timing does not
depend on training), MedSynth x-ray questions.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from _common import Figure, args, emit, interleave, synth_data
from _model import demo_model

CHATS = 16
"""`chat()` calls of 8 new tokens per repetition."""
STEPS = 4
"""Training steps of 16 samples per repetition."""


def configure(config: str) -> None:
    """"chosen": no fixed count and a fresh look at the machine; "default": MEDMLLM_THREADS = cores."""
    from medmllm import threads

    os.environ.pop(threads.ENV, None)
    if config == "default":
        os.environ[threads.ENV] = str(threads.cores())
    threads._state.__dict__.clear()
    threads.adjust()


def chat_ms(engine, data: Path, config: str):
    """A function returning the mean ms of a `chat()` on the test x-ray questions."""
    recs = [json.loads(line) for line in (data / "xray_vqa_test.jsonl").read_text().splitlines()][:CHATS]
    def run() -> float:
        configure(config)
        t = time.perf_counter()
        for r in recs:
            engine.chat(r["conversations"][0]["value"].split("\n", 1)[1], image=data / r["image"], max_new_tokens=8)
        return (time.perf_counter() - t) / len(recs) * 1000
    return run


def step_ms(engine, data: Path, config: str):
    """A function returning the mean ms of a training step (forward, backward, AdamW) of 16 samples."""
    from medmllm.data.collate import collate
    from medmllm.data.manifest import ManifestDataset
    from medmllm.threads import adjust

    ds = ManifestDataset([data / "xray_vqa_train.jsonl"], engine.processor, max_length=384)
    batch = collate([ds[i] for i in range(16)], engine.processor.tokenizer.pad_token_id)
    model = engine.model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    def step() -> None:
        adjust()
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()
    def run() -> float:
        configure(config)
        model.train()
        t = time.perf_counter()
        for _ in range(STEPS):
            step()
        model.eval()
        return (time.perf_counter() - t) / STEPS * 1000
    return run


def main() -> None:
    a = args(__doc__)
    data = synth_data(a.data)
    import medmllm
    from medmllm.threads import cores

    engine = medmllm.load(demo_model(data))
    base = f"torch default ({cores()} threads, MEDMLLM_THREADS={cores()})"
    chat = interleave({c: chat_ms(engine, data, c) for c in ("chosen", "default")}, a.reps)
    train = interleave({c: step_ms(engine, data, c) for c in ("chosen", "default")}, a.reps)
    emit("threads", [
        Figure("chat(), chosen threads", "ms", chat["chosen"], chat["default"], base, higher_better=False,
               note=f"demo model, {CHATS} MedSynth x-ray questions of 8 new tokens, mean per call"),
        Figure("training step of 16, chosen threads", "ms", train["chosen"], train["default"], base,
               higher_better=False, note=f"demo model, forward + backward + AdamW, mean of {STEPS} steps"),
    ], a.json)


if __name__ == "__main__":
    main()
