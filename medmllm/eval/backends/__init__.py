"""Who answers the questions: a local medmllm model, any OpenAI-compatible endpoint, or a
transformers image-text-to-text model from a folder. Registered by name (one file each).

A backend answers a batch of eval items (`answer(items, blank, max_new_tokens, think, temperature)`),
returning per item the text or a `MedMLLMError` (an input that does not decode); `think` makes the
model reason first (the answer starts with "<think>"; endpoints get an instruction instead),
`temperature` > 0 samples (for self-consistency), 0 is greedy. `fingerprint` names the model and
the settings that change answers, and keys the per-item cache that lets a run resume.
"""
from __future__ import annotations

from typing import Protocol

from ...errors import MedMLLMError
from ...registry import Registry, import_modules

BACKENDS: Registry[type] = Registry("backend")


class Backend(Protocol):
    name: str
    batch_size: int

    def fingerprint(self) -> str: ...

    def answer(self, items: list[dict], blank: bool, max_new_tokens: int, think: bool = False,
               temperature: float = 0.0) -> list[str | MedMLLMError]: ...


import_modules(__name__, __path__)  # registration is by folder
