"""Decoding: `Engine.run` (the static-cache decode loop, `medmllm/decode.py`) against transformers'
`model.generate()` on identical inputs, the demo model (llama 128 x 3 layers, ResNet image encoder,
untrained weights: timing does not depend on training), MedSynth x-ray questions with their image.

Every run makes exactly `NEW` tokens per row (the end token is added to `suppress_tokens`, which both
sides honour), so both do the same work. Figures, per batch 1, 16 and 64, greedy and sampled (T 0.7,
top-p 0.9): decode tokens/s after the first token (the issue's per-step figure) and the time to the
first token; the eager loop is the default (`medmllm/decode.py`), the compiled step (opt-in) is one
figure at batch 16 plus its compile cost (a fresh inductor cache: what a new machine pays).
Greedy texts are compared row by row and the result stated in the notes.

    .venv/bin/python benchmarks/bench/generation.py --reps 3 --json /tmp/generation.json
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="medmllm-inductor-")  # a cold compile
os.environ.pop("MEDMLLM_COMPILE", None)
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch
from _common import Figure, args, emit, interleave, synth_data
from transformers import StoppingCriteria, StoppingCriteriaList

NEW = 32
BATCHES = (1, 16, 64)
SAMPLED = {"do_sample": True, "temperature": 0.7, "top_p": 0.9}


class _First(StoppingCriteria):
    """Notes when `generate()` has its first new token."""

    def __init__(self):
        self.at = None

    def __call__(self, input_ids, scores, **kwargs):
        self.at = self.at or time.perf_counter()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def setup(data: Path):
    import json

    from medmllm.build import build_model
    from medmllm.config import load_config
    from medmllm.engine import Engine

    cfg = load_config(str(Path(__file__).resolve().parents[2] / "medmllm/configs/demo_align.yaml"), [])
    torch.manual_seed(0)
    model, processor = build_model(cfg.model, (data / "xray_vqa_train.jsonl").read_text().splitlines())
    g = model.generation_config
    g.suppress_tokens = sorted(set(g.suppress_tokens) | {processor.tokenizer.eos_token_id})  # NEW tokens each
    eager, compiled = Engine(model, processor, compile=False), Engine(model, processor, compile=True)
    recs = [json.loads(line) for line in (data / "xray_vqa_test.jsonl").read_text().splitlines()]
    samples = [eager.sample(r["conversations"][0]["value"].split("\n", 1)[1], {"image": [data / r["image"]]})
               for r in (recs * (1 + max(BATCHES) // len(recs)))[:max(BATCHES)]]
    return model, processor, eager, compiled, samples


def ours(engine, samples, sampling: dict, firsts: list, texts: list) -> float:
    """One `Engine.run`: decode tokens/s after the first token; the time to it goes to `firsts`."""
    from medmllm.engine import Row

    first: list[float] = []

    def mark() -> bool:  # polled once per row and step: the first call is the first token
        if not first:
            first.append(time.perf_counter())
        return False

    t = time.perf_counter()
    outs = engine.run([Row(s, NEW, cancelled=mark) for s in samples], seed=0 if sampling else None, **sampling)
    end = time.perf_counter()
    firsts.append(first[0] - t)
    texts[:] = [o.text for o in outs]
    return len(samples) * (NEW - 1) / (end - first[0])


def base(model, processor, samples, sampling: dict, firsts: list, texts: list) -> float:
    """One `model.generate()` on the same batch."""
    from medmllm.data.collate import collate
    from medmllm.threads import adjust

    adjust()
    tok = processor.tokenizer
    batch = collate([{k: v for k, v in s.items() if k != "labels"} for s in samples], tok.pad_token_id, left_pad=True)
    first = _First()
    if sampling:
        torch.manual_seed(0)
    t = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=NEW, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                             top_k=None, stopping_criteria=StoppingCriteriaList([first]), **sampling)
    end = time.perf_counter()
    firsts.append(first.at - t)
    texts[:] = [processor.decode(row) for row in out[:, batch["input_ids"].shape[1]:].tolist()]
    return len(samples) * (NEW - 1) / (end - first.at)


def compare(name: str, fns: dict, reps: int, firsts: dict, note: str) -> list[Figure]:
    runs = interleave(fns, reps)
    ttft = {k: [v * 1000 for v in firsts[k][-reps:]] for k in fns}
    return [Figure(f"decode tokens/s, {name}", "tokens/s", runs["ours"], runs["base"], "transformers generate()",
                   target=3.0 if "batch 16" in name else None, note=note),
            Figure(f"time to first token, {name}", "ms", ttft["ours"], ttft["base"], "transformers generate()",
                   higher_better=False, note=note)]


def pair(engine, model, processor, samples: list, sampling: dict, reps: int, name: str, note: str) -> list[Figure]:
    """`Engine.run` against `generate()` on `samples`; greedy texts compared first (in the note)."""
    firsts, texts = {"ours": [], "base": []}, {"ours": [], "base": []}
    fns = {"ours": lambda: ours(engine, samples, sampling, firsts["ours"], texts["ours"]),
           "base": lambda: base(model, processor, samples, sampling, firsts["base"], texts["base"])}
    if not sampling:
        fns["base"]()
        fns["ours"]()
        note += f"; greedy texts identical to generate(): {texts['ours'] == texts['base']}"
    return compare(name, fns, reps, firsts, note)


def main() -> None:
    a = args(__doc__)
    model, processor, eager, compiled, samples = setup(synth_data(a.data, n=60))
    figures = []
    for b in BATCHES:
        for label, sampling in (("greedy", {}), ("sampled", SAMPLED)):
            figures += pair(eager, model, processor, samples[:b], sampling, a.reps, f"batch {b}, {label}, eager",
                            f"batch {b}, {NEW} new tokens per row, eager step (the default)")
    t = time.perf_counter()
    ours(compiled, samples[:16], {}, [], [])
    cold = time.perf_counter() - t
    t = time.perf_counter()
    ours(compiled, samples[:16], {}, [], [])
    warm = time.perf_counter() - t
    figures += pair(compiled, model, processor, samples[:16], {}, a.reps, "batch 16, greedy, compiled",
                    f"batch 16, {NEW} new tokens per row, compiled step")
    figures.append(Figure("compile cost of the decode step (first compiled call less a compiled run)", "s",
                          [cold - warm], higher_better=False,
                          note="fresh inductor cache; one graph (batch > 1); a batch of 1 compiles a second"))
    emit("generation", figures, a.json)


if __name__ == "__main__":
    main()
