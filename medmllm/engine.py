"""Inference engine: a trained MedMLLM plus its processor -> answers, one at a time or batched.

`medmllm.load(folder)` returns an `Engine`; `engine.chat(text, image=..., volume=..., ecg=...)`
answers one question; `engine.generate(samples)` answers a batch (left-padded, KV cache), which
is what evaluation uses. `engine.run(rows)` is the one generation loop under both and under the
server (`medmllm serve`): each `Row` of a batch carries its own token budget, stop strings, a
callback for the text as it grows (streaming) and a cancel check, so a finished, stopped or
cancelled row drops out while the others go on. Greedy rows give the same tokens alone or batched
(left padding with the attention mask), which is why the server's answers equal `medmllm chat`'s.
It knows nothing about HTTP or scoring.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .chat import MODALITIES, PLACEHOLDERS
from .checkpoint import load_pretrained
from .data.collate import collate
from .data.processor import MedMLLMProcessor
from .decode import Sampling, decode
from .errors import MedMLLMError
from .model import MedMLLM
from .reasoning import THINK_PREFIX, Reply, vote
from .threads import adjust as adjust_threads


class Engine:
    def __init__(self, model: MedMLLM, processor: MedMLLMProcessor, threads: int = 0, compile: bool | None = None):
        self.model = model.eval()
        self.processor = processor
        self.threads = threads
        """Torch threads for generation; 0: the cores other processes leave free (`medmllm/threads.py`)."""
        self.compile = compile
        """Compile the decode step (`medmllm/decode.py`): True for long jobs; None/False: eager (the
        default); `MEDMLLM_COMPILE=1`/`0` overrides."""

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> Engine:
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
        return self.conversation([{"role": "user", "content": text}], inputs, prefix)

    def conversation(self, messages: list[dict], inputs: dict[str, list[Any]] | None = None, prefix: str = "") -> dict:
        """A conversation (turns with placeholders, ending with a question) and the inputs its
        placeholders stand for, in order: paths, arrays or already-loaded tensors -> one sample.
        The placeholder count of each modality must equal its input count."""
        inputs = {m: v for m, v in (inputs or {}).items() if v is not None and len(v)}
        for modality in MODALITIES:
            n_ph = sum(str(m.get("content") or "").count(PLACEHOLDERS[modality]) for m in messages)
            n_in = len(inputs.get(modality, []))
            if n_ph != n_in:
                raise MedMLLMError(f"the text has {n_ph} {PLACEHOLDERS[modality]} placeholder(s) but "
                                   f"{n_in} {modality} input(s) were given")
        out = self.prompt(messages, prefix)
        for modality, xs in inputs.items():
            out.update(self.processor.inputs(modality, list(xs)))
        return out

    def prompt(self, messages: list[dict], prefix: str = "") -> dict[str, torch.Tensor]:
        """A conversation (ending with a question) as prompt ids ending in the assistant header, then
        `prefix` (e.g. "<think>"), which the answer continues."""
        enc = self.processor.encode(messages, generation_prompt=True)
        extra = self.processor.tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        return {"input_ids": torch.tensor(enc["input_ids"] + extra),
                "labels": torch.tensor(enc["labels"] + [-100] * len(extra))}

    @torch.inference_mode()
    def run(self, rows: list[Row], do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
            seed: int | None = None) -> list[Output]:
        """Generate for a batch of rows at once (left padding, KV cache); each row ends on its own:
        at the end token, a stop string, its `max_new_tokens`, or when `cancelled()` says so."""
        adjust_threads(self.threads)  # in the thread that computes: OpenMP's count is per thread
        tok = self.processor.tokenizer
        batch = collate([{k: v for k, v in r.sample.items() if k != "labels"} for r in rows], tok.pad_token_id,
                        left_pad=True)
        rows_state = _Rows(rows, self.processor)
        if seed is not None:
            torch.manual_seed(seed)
        decode(self.model, batch, max(r.max_new_tokens for r in rows), rows_state.feed,
               Sampling(do_sample, temperature, top_p), self.compile, tok.pad_token_id, tok.eos_token_id)
        return rows_state.outputs()

    def generate(self, samples: list[dict], max_new_tokens: int = 128, do_sample: bool = False,
                 temperature: float = 1.0) -> list[str]:
        """Answer a batch of samples (from `sample` or a dataset): the texts, in order."""
        return [o.text for o in self.run([Row(s, max_new_tokens) for s in samples], do_sample, temperature)]

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


@dataclass
class Row:
    """One answer to generate: its sample (`Engine.sample` / `conversation`) and how it ends."""

    sample: dict
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    """The answer ends before the first of these strings (which is left out, as OpenAI's `stop`)."""
    on_text: Callable[[str], None] | None = None
    """Called with each new piece of the answer as it is generated; the pieces add up to `Output.text`."""
    cancelled: Callable[[], bool] | None = None
    """Polled every step; True ends the row (its client has gone)."""
    on_end: Callable[[Output], None] | None = None
    """Called with the row's `Output` as soon as it ends, while the rest of the batch goes on."""


@dataclass
class Output:
    """A row's answer: `finish_reason` is "stop" (end token or stop string), "length" or "cancelled"."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


@dataclass
class _RowState:
    row: Row
    prompt_tokens: int
    tokens: list[int] = field(default_factory=list)
    generated: int = 0
    text: str = ""
    sent: str = ""
    finish: str | None = None


class _Rows:
    """Per-row bookkeeping, fed by the decode loop after every step with the new token of each row
    still going: decodes its text, ends rows on the end token, a stop string, their budget or
    cancellation, and streams the text that can no longer change (held back: a trailing part that
    may begin a stop string, trailing white space, and an unfinished UTF-8 character)."""

    def __init__(self, rows: list[Row], processor):
        self.processor = processor
        eos = processor.tokenizer.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [eos])
        self.states = [_RowState(r, int(r.sample["input_ids"].shape[0])) for r in rows]

    def feed(self, rows: list[int], tokens: list[int]) -> list[bool]:
        """The new tokens of the rows still going (indices into the batch) -> whether each has ended."""
        for i, token in zip(rows, tokens):
            self._step(self.states[i], token)
        return [self.states[i].finish is not None for i in rows]

    def _step(self, s: _RowState, token: int) -> None:
        s.generated += 1
        if token in self.eos:
            return self._end(s, "stop")
        s.tokens.append(token)
        live = bool(s.row.stop) or s.row.on_text is not None  # else the text is decoded once, at the end
        if live:
            s.text = self.processor.decode(s.tokens)
            cut = min((i for i in (s.text.find(x) for x in s.row.stop if x) if i >= 0), default=-1)
            if cut >= 0:
                s.text = s.text[:cut].rstrip()
                return self._end(s, "stop")
        if s.row.cancelled is not None and s.row.cancelled():
            return self._end(s, "cancelled")
        if len(s.tokens) >= s.row.max_new_tokens:
            return self._end(s, "length")
        if live:
            self._emit(s, _settled(s.text, s.row.stop))

    def _end(self, s: _RowState, reason: str) -> None:
        s.finish = reason
        if not s.row.stop and s.row.on_text is None:
            s.text = self.processor.decode(s.tokens)
        self._emit(s, len(s.text))
        if s.row.on_end is not None:
            s.row.on_end(self._output(s))

    @staticmethod
    def _output(s: _RowState) -> Output:
        return Output(s.text, s.prompt_tokens, s.generated, s.finish)

    @staticmethod
    def _emit(s: _RowState, upto: int) -> None:
        if s.row.on_text is not None and upto > len(s.sent) and s.text.startswith(s.sent):
            piece = s.text[len(s.sent):upto]
            s.sent += piece
            s.row.on_text(piece)

    def outputs(self) -> list[Output]:
        for s in self.states:  # a row still open when generate stopped ran out of tokens
            if s.finish is None:
                self._end(s, "length")
        return [self._output(s) for s in self.states]


def _settled(text: str, stop: tuple[str, ...]) -> int:
    """How much of a growing answer can be sent: all but a tail that might start a stop string,
    trailing white space (the final text is stripped, also where a stop string cuts it) and a
    replacement character (half a UTF-8 character)."""
    end, last = len(text), -1
    while end != last:
        last, end = end, len(text[:end].rstrip().rstrip("\ufffd"))
        for x in stop:
            k = next((k for k in range(min(len(x) - 1, end), 0, -1) if text[:end].endswith(x[:k])), 0)
            end -= k
    return end
