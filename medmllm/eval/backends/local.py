"""A saved medmllm model, answering in left-padded batches with the KV cache (greedy)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ...errors import MedMLLMError
from . import BACKENDS


@BACKENDS.register("local")
class LocalBackend:
    def __init__(self, model: str | Path | None = None, engine=None, batch_size: int = 16):
        from ...engine import load

        self.engine = engine if engine is not None else load(model)
        self.name = str(model) if model is not None else "engine"
        self.batch_size = batch_size

    def fingerprint(self) -> str:
        cfg = self.engine.model.config.to_json_string()
        weights = sum(float(p.detach().double().sum()) for p in self.engine.model.parameters())
        return "local:" + hashlib.sha256(f"{cfg}{weights:.6e}".encode()).hexdigest()[:16]

    def tokens(self, text: str) -> int:
        return len(self.engine.processor.tokenizer(text, add_special_tokens=False)["input_ids"])

    def answer(self, items: list[dict], blank: bool, max_new_tokens: int, think: bool = False,
               temperature: float = 0.0) -> list[str | MedMLLMError]:
        from ...reasoning import THINK_PREFIX

        p, prefix = self.engine.processor, THINK_PREFIX if think else ""
        out: list[str | MedMLLMError] = []
        samples, slots = [], []
        for it in items:
            try:
                s = self.engine.prompt(it["history"], prefix)
                for m, paths in it["inputs"].items():
                    s.update(p.inputs(m, [p.blank(m) if blank else path for path in paths]))
            except MedMLLMError as e:
                out.append(MedMLLMError(f"{it['where']}: {e}"))
                continue
            slots.append(len(out))
            out.append("")
            samples.append(s)
        if samples:
            texts = self.engine.generate(samples, max_new_tokens, do_sample=temperature > 0,
                                         temperature=temperature or 1.0)
            for slot, text in zip(slots, texts):
                out[slot] = prefix + text
        return out
