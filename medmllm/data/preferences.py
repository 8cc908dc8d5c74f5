"""Preference data sets (DPO): the tokens of prompt+chosen and prompt+rejected for each record.

A record: `{"id", "image"|"volume"|"ecg": path or [paths], "prompt": [turns] (or a plain string, one
user turn), "chosen": "...", "rejected": "...", "meta": {...}}`; `chosen`/`rejected` may also be one
message (or a list holding one). The prompt may be several turns (user first, alternating, ending
with a user turn). Records are read, normalised and checked in `records.py`, so `medmllm data
validate` checks them too.

`PreferenceDataset` turns a record into the tokens of prompt+chosen and prompt+rejected (labels on
the answer tokens only, through the processor's `encode`) and loads its inputs once;
`collate_preferences` stacks a batch as [chosen rows..., rejected rows...] with the inputs repeated
in the same order, so one forward pass gives both sides.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import MedMLLMError
from .collate import collate
from .manifest import ManifestDataset
from .records import SIDES, conversation, is_preference, record_inputs


class PreferenceDataset(ManifestDataset):
    """Map-style dataset over preference manifests: items hold `chosen_*`/`rejected_*` tokens and the inputs."""

    def __init__(self, manifests, processor, max_length: int = 512, on_error: str = "fail", pack_turns: int = 1):
        super().__init__(manifests, processor, max_length, on_error, pack_turns=1)  # pairs are never packed
        for i in (0, len(self.offsets) - 1):  # catch an SFT manifest in `data.train` at once, with its location
            if not is_preference(self.record(i)):
                raise MedMLLMError(f"{self.location(i)}: not a preference record (no 'prompt'/'chosen'/'rejected'); "
                                   "the dpo stage trains on preference manifests such as MedSynth's *_pref_*.jsonl")

    def process(self, rec: dict, root: Path) -> dict:
        if not is_preference(rec):
            raise MedMLLMError("not a preference record (no 'prompt'/'chosen'/'rejected')")
        p, out = self.processor, {}
        for side in SIDES:
            sample = self._cut(p.encode(conversation(rec, side)), rec)
            if not any(label != -100 for label in sample["labels"]):
                raise MedMLLMError(f"data.max_length={self.max_length} leaves no '{side}' answer token")
            out[f"{side}_input_ids"] = torch.tensor(sample["input_ids"])
            out[f"{side}_labels"] = torch.tensor(sample["labels"])
        for modality, paths in record_inputs(rec).items():
            out.update(p.inputs(modality, [root / path for path in paths]))
        return out

    def _cut(self, sample: dict, rec: dict) -> dict:
        """Cut to `max_length` (never inside an input's placeholder tokens)."""
        if len(sample["input_ids"]) <= self.max_length:
            return sample
        p = self.processor
        expected = sum(p.settings.num_tokens[m] * len(v) for m, v in record_inputs(rec).items())
        placeholders = p.placeholder_ids()
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
