"""Preference manifests (DPO): a prompt, the preferred answer and the dispreferred one.

A record: `{"id", "image"|"volume"|"ecg": path or [paths], "prompt": [{"from": "human", "value":
"<image>\\n..."}] (or a plain string, one human turn), "chosen": "...", "rejected": "...", "meta": {...}}`;
`chosen`/`rejected` may also be one `{"from": "gpt", "value": ...}` message (or a list holding one).
The prompt may be several turns (human first, alternating, ending with a human turn).
`check_record` in `manifest.py` sends such records here, so `medmllm data validate` checks them.

`PreferenceDataset` turns a record into the tokens of prompt+chosen and prompt+rejected (labels on
the answer tokens only, through the processor's `encode`) and loads its inputs once;
`collate_preferences` stacks a batch as [chosen rows..., rejected rows...] with the inputs repeated
in the same order, so one forward pass gives both sides.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import MedMLLMError
from ..chat import PLACEHOLDERS
from .manifest import ManifestDataset, check_record, collate, record_inputs

SIDES = ("chosen", "rejected")


def answer_text(value) -> str | None:
    """The text of a `chosen`/`rejected` field: a string, one message, or a list of one message."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("value", value.get("content"))
    return value if isinstance(value, str) else None


def prompt_turns(rec: dict) -> list[dict] | None:
    """The prompt as a list of turns (a string is one human turn); None when malformed."""
    prompt = rec.get("prompt")
    if isinstance(prompt, str):
        return [{"from": "human", "value": prompt}]
    return prompt if isinstance(prompt, list) and prompt else None


def conversation(rec: dict, side: str = "chosen") -> list[dict]:
    """Prompt turns followed by the `side` answer: an ordinary `conversations` list."""
    return list(prompt_turns(rec) or []) + [{"from": "gpt", "value": answer_text(rec.get(side)) or ""}]


def check_preference_record(rec: dict, root: Path, modalities: set[str] | None = None,
                            check_files: bool = True) -> str | None:
    """What is wrong with a preference record (None if nothing): prompt, answers, placeholders, files."""
    if "conversations" in rec:
        return "has both 'conversations' and 'chosen'/'rejected': a record is either SFT or preference"
    if prompt_turns(rec) is None:
        return "no 'prompt' (a string or a non-empty list of turns)"
    turns = prompt_turns(rec)
    if len(turns) % 2 == 0:
        return "the prompt should end with a human turn (odd number of turns, human first)"
    for side in SIDES:
        text = answer_text(rec.get(side))
        if text is None:
            return f"no '{side}' answer (a string or one message)"
        if not text.strip():
            return f"'{side}' is an empty answer"
        if any(ph in text for ph in PLACEHOLDERS.values()):
            return f"'{side}' contains a modality placeholder; placeholders belong in the prompt"
    if answer_text(rec["chosen"]).strip() == answer_text(rec["rejected"]).strip():
        return "'chosen' and 'rejected' are the same answer"
    why = check_record({k: v for k, v in rec.items() if k not in ("prompt", "chosen", "rejected")}
                       | {"conversations": conversation(rec)}, root, modalities, check_files)
    return why.replace("conversations[", "prompt[") if why else None


class PreferenceDataset(ManifestDataset):
    """Map-style dataset over preference manifests: items hold `chosen_*`/`rejected_*` tokens and the inputs."""

    def __init__(self, manifests, processor, max_length: int = 512, on_error: str = "fail", pack_turns: int = 1):
        super().__init__(manifests, processor, max_length, on_error, pack_turns=1)  # pairs are never packed
        for i in (0, len(self.offsets) - 1):  # catch an SFT manifest in `data.train` at once, with its location
            if "chosen" not in self.record(i):
                raise MedMLLMError(f"{self.location(i)}: not a preference record (no 'prompt'/'chosen'/'rejected'); "
                                   "the dpo stage trains on preference manifests such as MedSynth's *_pref_*.jsonl")

    def process(self, rec: dict, root: Path) -> dict:
        if "chosen" not in rec:
            raise MedMLLMError("not a preference record (no 'prompt'/'chosen'/'rejected')")
        p, out = self.processor, {}
        for side in SIDES:
            sample = self._cut(p.encode(conversation(rec, side)), rec)
            if not any(label != -100 for label in sample["labels"]):
                raise MedMLLMError(f"data.max_length={self.max_length} leaves no '{side}' answer token")
            out[f"{side}_input_ids"] = torch.tensor(sample["input_ids"])
            out[f"{side}_labels"] = torch.tensor(sample["labels"])
        for modality, paths in record_inputs(rec).items():
            out[modality] = torch.stack([p.load(modality, root / path) for path in paths])
        return out

    def _cut(self, sample: dict, rec: dict) -> dict:
        """Cut to `max_length` (never inside an input's placeholder tokens)."""
        if len(sample["input_ids"]) <= self.max_length:
            return sample
        p = self.processor
        expected = sum(p.settings.num_tokens[m] * len(v) for m, v in record_inputs(rec).items())
        placeholders = {p.tokenizer.convert_tokens_to_ids(ph) for ph in PLACEHOLDERS.values()}
        if sum(t in placeholders for t in sample["input_ids"][: self.max_length]) != expected:
            raise MedMLLMError(f"{len(sample['input_ids'])} tokens exceed data.max_length={self.max_length} "
                               "and cutting would split an input's placeholder tokens")
        return {k: v[: self.max_length] for k, v in sample.items()}


def collate_preferences(batch: list[dict | None], pad_id: int) -> dict[str, torch.Tensor]:
    """One right-padded batch of 2B rows, chosen first then rejected; each modality's inputs twice, in row order."""
    batch = [b for b in batch if b is not None]
    if not batch:
        return {}
    rows = [{"input_ids": b[f"{side}_input_ids"], "labels": b[f"{side}_labels"],
             **{m: v for m, v in b.items() if not m.startswith(SIDES)}} for side in SIDES for b in batch]
    return collate(rows, pad_id)
