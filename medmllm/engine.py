"""Inference engine: a trained MedMLLM plus its processor -> answers, one at a time or batched.

`medmllm.load(folder)` returns an `Engine`; `engine.chat(text, image=..., volume=..., ecg=...)`
answers one question; `engine.generate(samples)` answers a batch (left-padded, KV cache), which
is what evaluation and, later, the server use. It knows nothing about HTTP or scoring.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .chat import MODALITIES, PLACEHOLDERS
from .checkpoint import load_pretrained
from .data.collate import collate
from .data.processor import MedMLLMProcessor
from .errors import MedMLLMError
from .model import MedMLLM
from .reasoning import THINK_PREFIX, Reply, vote


class Engine:
    def __init__(self, model: MedMLLM, processor: MedMLLMProcessor):
        self.model = model.eval()
        self.processor = processor

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "Engine":
        """A saved model folder, full or adapter (see `checkpoint.load_pretrained`)."""
        return cls(*load_pretrained(folder))

    def sample(self, text: str, inputs: dict[str, list[Any]] | None = None, prefix: str = "") -> dict:
        """A question and its inputs (paths or arrays) -> one sample ready for `generate`.
        A missing placeholder is added in front of the text, one per input; `prefix` starts the
        answer (e.g. "<think>" to make a reasoning model think first)."""
        inputs = {m: v for m, v in (inputs or {}).items() if v is not None and len(v)}
        for modality in MODALITIES:
            n_ph, n_in = text.count(PLACEHOLDERS[modality]), len(inputs.get(modality, []))
            if n_ph == 0 and n_in:
                text = (PLACEHOLDERS[modality] + "\n") * n_in + text
            elif n_ph != n_in:
                raise MedMLLMError(f"the text has {n_ph} {PLACEHOLDERS[modality]} placeholder(s) but "
                                   f"{n_in} {modality} input(s) were given")
        out = self.prompt([{"role": "user", "content": text}], prefix)
        for modality, xs in inputs.items():
            out[modality] = torch.stack([self.processor.load(modality, x) for x in xs])
        return out

    def prompt(self, messages: list[dict], prefix: str = "") -> dict[str, torch.Tensor]:
        """A conversation (ending with a question) as prompt ids ending in the assistant header, then
        `prefix` (e.g. "<think>"), which the answer continues."""
        enc = self.processor.encode(messages, generation_prompt=True)
        extra = self.processor.tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        return {"input_ids": torch.tensor(enc["input_ids"] + extra),
                "labels": torch.tensor(enc["labels"] + [-100] * len(extra))}

    @torch.inference_mode()
    def generate(self, samples: list[dict], max_new_tokens: int = 128, do_sample: bool = False,
                 temperature: float = 1.0) -> list[str]:
        """Answer a batch of samples (from `sample` or a dataset) with left padding and the KV cache."""
        tok = self.processor.tokenizer
        batch = collate([{k: v for k, v in s.items() if k != "labels"} for s in samples], tok.pad_token_id,
                        left_pad=True)
        out = self.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                  temperature=temperature if do_sample else None, top_p=None, top_k=None,
                                  pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        return [self.processor.decode(row[batch["input_ids"].shape[1]:]) for row in out]

    def chat(self, text: str, image: Any = None, volume: Any = None, ecg: Any = None, max_new_tokens: int = 128) -> str:
        """Answer one question about optional inputs, each a path, an array, or a list of them."""
        return self.generate([self.sample(text, _inputs(image, volume, ecg))], max_new_tokens=max_new_tokens)[0]

    def reason(self, text: str, image: Any = None, volume: Any = None, ecg: Any = None, think: bool = True,
               samples: int = 1, temperature: float = 0.7, max_new_tokens: int = 256) -> Reply:
        """Answer with the reasoning and the answer apart (`Reply.reasoning`, `Reply.answer`).
        `think` makes the model start with "<think>"; `samples` > 1 is self-consistency: that many
        sampled answers (at `temperature`) and a majority vote on the extracted answer."""
        prefix = THINK_PREFIX if think else ""
        sample = self.sample(text, _inputs(image, volume, ecg), prefix=prefix)
        if samples <= 1:
            return vote([prefix + self.generate([sample], max_new_tokens=max_new_tokens)[0]])
        texts = self.generate([sample] * samples, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature)
        return vote([prefix + t for t in texts])


def _inputs(image: Any, volume: Any, ecg: Any) -> dict[str, list[Any]]:
    return {m: (x if isinstance(x, (list, tuple)) else [x]) for m, x in
            (("image", image), ("volume", volume), ("ecg", ecg)) if x is not None}


def load(folder: str | Path) -> Engine:
    """Load a saved medmllm model folder for inference: `medmllm.load("runs/demo/model").chat(...)`."""
    return Engine.from_pretrained(folder)
