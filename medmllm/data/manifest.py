"""JSONL manifests in the LLaVA `conversations` format, read lazily and checked record by record.

A record: `{"id", "image"|"volume"|"ecg": path or [paths], "conversations": [{"from": "human",
"value": "<image>\\n..."}, {"from": "gpt", "value": "..."}], "meta": {...}}`, paths relative to
the manifest's folder. Only byte offsets are kept in memory; a record is parsed when it is used.
Every problem is reported as `manifest.jsonl:LINE: what is wrong`.
"""
from __future__ import annotations

import json
import sys
from array import array
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..errors import MedMLLMError, brief
from ..chat import MODALITIES, PLACEHOLDERS
from .jsonl import iter_records  # noqa: F401  (part of this module's API)
from .processor import MedMLLMProcessor


def record_inputs(rec: dict) -> dict[str, list[str]]:
    """Modality -> list of file paths (a record may carry one path or a list)."""
    out = {}
    for modality in MODALITIES:
        v = rec.get(modality)
        if v is not None:
            out[modality] = [v] if isinstance(v, str) else list(v)
    return out


def check_record(rec: dict, root: Path, modalities: set[str] | None = None, check_files: bool = True) -> str | None:
    """What is wrong with a record (None if nothing): structure, placeholders, files. A preference record
    (`prompt`/`chosen`/`rejected`, see `preferences.py`) is checked as one."""
    if "chosen" in rec or "rejected" in rec:
        from .preferences import check_preference_record

        return check_preference_record(rec, root, modalities, check_files)
    conv = rec.get("conversations")
    if not isinstance(conv, list) or not conv:
        return "no 'conversations' list"
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or not isinstance(turn.get("value", turn.get("content")), str):
            return f"conversations[{i}] has no text 'value'"
        want = ("human", "user") if i % 2 == 0 else ("gpt", "assistant")
        if turn.get("from", turn.get("role")) not in want:
            return f"conversations[{i}] should be from {want[0]!r} (roles must alternate, human first)"
        if i % 2 == 1 and not turn.get("value", turn.get("content", "")).strip():
            return f"conversations[{i}] is an empty answer"
    if len(conv) % 2:
        return "conversation ends without an answer"
    text = "".join(t.get("value", t.get("content", "")) for t in conv)
    for modality in MODALITIES:
        v = rec.get(modality)
        paths = [v] if isinstance(v, str) else v if isinstance(v, list) else None
        if v is not None and (paths is None or not all(isinstance(p, str) and p.strip() for p in paths)):
            return f"'{modality}' must be a file path or a list of file paths (non-empty strings)"
    inputs = record_inputs(rec)
    for modality in MODALITIES:
        n_ph, n_in = text.count(PLACEHOLDERS[modality]), len(inputs.get(modality, []))
        if n_ph != n_in:
            return f"{n_ph} {PLACEHOLDERS[modality]} placeholder(s) but {n_in} {modality} input(s)"
        if n_in and modalities is not None and modality not in modalities:
            return f"has {modality} input(s) but the model has no {modality} encoder"
    if check_files:
        for paths in inputs.values():
            for p in paths:
                full = root / p
                if not (full.exists() or Path(str(full) + ".hea").exists()):
                    return f"file '{p}' not found (looked in {root})"
    return None


class ManifestDataset(Dataset):
    """Map-style dataset over one or more manifests of processed samples; bad records fail or are skipped."""

    def __init__(self, manifests: list[str | Path], processor: MedMLLMProcessor, max_length: int = 512,
                 on_error: str = "fail", pack_turns: int = 1):
        self.processor, self.max_length, self.on_error = processor, max_length, on_error
        self.paths = [Path(m) for m in manifests]
        self.file_idx, self.offsets, self.lines = array("i"), array("q"), array("i")
        self.skipped: list[str] = []
        modalities = set(processor.settings.num_tokens)
        by_inputs: dict[tuple, list[int]] = {}
        lengths, extras = array("i"), array("i")  # tokens of a record alone / as a later turn (packing only)
        for k, path in enumerate(self.paths):
            for lineno, offset, rec in iter_records(path):
                problem = str(rec) if isinstance(rec, MedMLLMError) else None
                if problem is None:
                    why = check_record(rec, path.parent, modalities)
                    problem = f"{path}:{lineno}: {why}" if why else None
                if problem:
                    self._fail(problem)
                    continue
                if pack_turns > 1:  # records sharing a manifest and inputs, grouped in this same pass
                    key = (k, json.dumps(record_inputs(rec), sort_keys=True))
                    by_inputs.setdefault(key, []).append(len(self.offsets))
                    alone = len(processor.encode(conversation_of(rec))["input_ids"])
                    twice = len(processor.encode(merge_turns([rec, rec])["conversations"])["input_ids"])
                    lengths.append(alone), extras.append(twice - alone)
                self.file_idx.append(k), self.offsets.append(offset), self.lines.append(lineno)
        if not self.offsets:
            raise MedMLLMError(f"{', '.join(map(str, self.paths))}: no usable records")
        # with packing, item i is up to `pack_turns` records about the same inputs that fit in max_length
        self.groups = [group for idx in by_inputs.values() for group in self._pack(idx, lengths, extras, pack_turns)] \
            if pack_turns > 1 else None

    def _pack(self, idx: list[int], lengths: array, extras: array, pack_turns: int) -> list[list[int]]:
        """Consecutive runs of `idx` with at most `pack_turns` records and, merged, at most `max_length`
        tokens: a record adds `extras[i]` tokens as a later turn (its length appended to itself, less
        its length alone; the template renders turn by turn), so packing never cuts a turn that a new
        sample would have kept. A record longer than `max_length` on its own gets a sample of its own
        (and is cut as it would be unpacked)."""
        groups: list[list[int]] = []
        size = 0
        for i in idx:
            if groups and len(groups[-1]) < pack_turns and size + extras[i] <= self.max_length:
                groups[-1].append(i)
                size += extras[i]
            else:
                groups.append([i])
                size = lengths[i]
        return groups

    def _fail(self, problem: str) -> None:
        if self.on_error == "fail":
            raise MedMLLMError(problem)
        if problem not in self.skipped:  # a bad record seen again in a later epoch counts once
            self.skipped.append(problem)

    def __len__(self) -> int:
        return len(self.groups) if self.groups is not None else len(self.offsets)

    def location(self, i: int) -> str:
        return f"{self.paths[self.file_idx[i]]}:{self.lines[i]}"

    def record(self, i: int) -> dict:
        with open(self.paths[self.file_idx[i]], "rb") as f:
            f.seek(self.offsets[i])
            return json.loads(f.readline())

    def __getitem__(self, i: int) -> dict:
        """Item i; with on_error="skip", a record that fails to load is counted, reported and replaced
        by the next one that loads (so no batch is ever empty)."""
        for k in range(len(self)):
            j = (i + k) % len(self)
            try:
                return self._load(j)
            except Exception as e:  # any decoder failure is a bad record, named by its line
                first = self.groups[j][0] if self.groups is not None else j
                why = str(e) if isinstance(e, MedMLLMError) else f"{type(e).__name__}: {brief(e)}"
                self._fail(f"{self.location(first)}: {why}")
                print(f"skipped {self.location(first)}: {why}", file=sys.stderr)
        raise MedMLLMError(f"{', '.join(map(str, self.paths))}: no record could be loaded")

    def _load(self, i: int) -> dict:
        if self.groups is not None:
            i, rec = self.groups[i][0], merge_turns([self.record(j) for j in self.groups[i]])
        else:
            rec = self.record(i)
        return self.process(rec, self.paths[self.file_idx[i]].parent)

    def process(self, rec: dict, root: Path) -> dict:
        p = self.processor
        sample = p.encode(conversation_of(rec))
        if len(sample["input_ids"]) > self.max_length:
            expected = sum(p.settings.num_tokens[m] * len(v) for m, v in record_inputs(rec).items())
            cut = sample["input_ids"][: self.max_length]
            placeholders = {p.tokenizer.convert_tokens_to_ids(ph) for ph in PLACEHOLDERS.values()}
            if sum(t in placeholders for t in cut) != expected:
                raise MedMLLMError(f"{len(sample['input_ids'])} tokens exceed data.max_length={self.max_length} "
                                   "and cutting would split an input's placeholder tokens")
            sample = {k: v[: self.max_length] for k, v in sample.items()}
        out = {k: torch.tensor(v) for k, v in sample.items()}
        for modality, paths in record_inputs(rec).items():
            out[modality] = torch.stack([p.load(modality, root / path) for path in paths])
        return out


def conversation_of(rec: dict) -> list[dict]:
    """The turns a record trains on: its `conversations`, or for a preference record the chosen answer."""
    if "conversations" not in rec and "chosen" in rec:
        from .preferences import conversation

        return conversation(rec, "chosen")
    return rec["conversations"]


def merge_turns(records: list[dict]) -> dict:
    """One multi-turn record from single-turn records about the same inputs (placeholders kept once)."""
    first = records[0]
    conv = list(conversation_of(first))
    for rec in records[1:]:
        turns = [dict(t) for t in conversation_of(rec)]
        for t in turns:
            key = "value" if "value" in t else "content"
            for ph in PLACEHOLDERS.values():
                t[key] = t[key].replace(ph + "\n", "").replace(ph, "")
        conv += turns
    return {**first, "conversations": conv}


def collate(batch: list[dict | None], pad_id: int, left_pad: bool = False) -> dict[str, torch.Tensor]:
    """Pad text (right for training, left for generation) and stack each modality's inputs in order."""
    batch = [b for b in batch if b is not None]
    if not batch:
        return {}
    width = max(len(b["input_ids"]) for b in batch)
    out: dict[str, torch.Tensor] = {}
    for key, fill in (("input_ids", pad_id), ("labels", -100)):
        if key not in batch[0]:
            continue
        rows = []
        for b in batch:
            pad = torch.full((width - len(b[key]),), fill, dtype=torch.long)
            rows.append(torch.cat([pad, b[key]] if left_pad else [b[key], pad]))
        out[key] = torch.stack(rows)
    mask = [torch.ones(len(b["input_ids"]), dtype=torch.long) for b in batch]
    out["attention_mask"] = torch.stack([torch.cat([torch.zeros(width - len(m), dtype=torch.long), m] if left_pad
                                                   else [m, torch.zeros(width - len(m), dtype=torch.long)])
                                         for m in mask])
    for modality in MODALITIES:
        parts = [b[modality] for b in batch if modality in b]
        if parts:
            out[modality] = torch.cat(parts)
    return out
