"""JSONL manifests as a map-style data set of processed samples, read lazily.

Only byte offsets are kept in memory; a record is parsed (and its turns normalised, see
`records.py`) when it is used. Bad records fail with their location, or are counted and skipped
(`on_error="skip"`). With `pack_turns` > 1, records about the same inputs are merged into one
multi-turn sample while it fits `max_length`.
"""
from __future__ import annotations

import json
import sys
from array import array
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..chat import PLACEHOLDERS
from ..errors import MedMLLMError, brief
from .lengths import token_counts
from .processor import MedMLLMProcessor
from .records import check_record, conversation, iter_manifest, read_record, record_inputs


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
        convs: list[list[dict]] = []  # each record alone, then twice (packing only)
        for k, path in enumerate(self.paths):
            for lineno, offset, rec in iter_manifest(path):
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
                    convs += [conversation(rec), merge_turns([rec, rec])["conversations"]]
                self.file_idx.append(k), self.offsets.append(offset), self.lines.append(lineno)
        if not self.offsets:
            raise MedMLLMError(f"{', '.join(map(str, self.paths))}: no usable records")
        counts = token_counts(processor, convs)  # in one batch: see `lengths.py`
        lengths = counts[0::2]  # tokens of a record alone, and as a later turn (its length twice, less alone)
        extras = [twice - alone for alone, twice in zip(counts[0::2], counts[1::2])]
        # with packing, item i is up to `pack_turns` records about the same inputs that fit in max_length
        self.sizes: list[int] | None = [] if pack_turns > 1 else None  # tokens of each packed item
        self.groups = [group for idx in by_inputs.values() for group in self._pack(idx, lengths, extras, pack_turns)] \
            if pack_turns > 1 else None

    def _pack(self, idx: list[int], lengths: list[int], extras: list[int], pack_turns: int) -> list[list[int]]:
        """Consecutive runs of `idx` with at most `pack_turns` records and, merged, at most `max_length`
        tokens: a record adds `extras[i]` tokens as a later turn (its length appended to itself, less
        its length alone; the template renders turn by turn), so packing never cuts a turn that a new
        sample would have kept. A record longer than `max_length` on its own gets a sample of its own
        (and is cut as it would be unpacked)."""
        groups: list[list[int]] = []
        for i in idx:
            if groups and len(groups[-1]) < pack_turns and self.sizes[-1] + extras[i] <= self.max_length:
                groups[-1].append(i)
                self.sizes[-1] += extras[i]
            else:
                groups.append([i])
                self.sizes.append(lengths[i])
        return groups

    def _fail(self, problem: str) -> None:
        if self.on_error == "fail":
            raise MedMLLMError(problem)
        if problem not in self.skipped:  # a bad record seen again in a later epoch counts once
            self.skipped.append(problem)

    def __len__(self) -> int:
        return len(self.groups) if self.groups is not None else len(self.offsets)

    def lengths(self) -> list[int]:
        """Each item's token count (capped at `max_length`), for length-grouped batching: from the
        packing pass, or else one tokenizer pass over the records (no files are read)."""
        if self.sizes is None:
            self.sizes = token_counts(self.processor, [conversation(self.record(i)) for i in range(len(self.offsets))])
        return [min(n, self.max_length) for n in self.sizes]

    def location(self, i: int) -> str:
        return f"{self.paths[self.file_idx[i]]}:{self.lines[i]}"

    def record(self, i: int) -> dict:
        return read_record(self.paths[self.file_idx[i]], self.offsets[i])

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
        sample = p.encode(conversation(rec))
        if len(sample["input_ids"]) > self.max_length:
            expected = sum(p.settings.num_tokens[m] * len(v) for m, v in record_inputs(rec).items())
            cut = sample["input_ids"][: self.max_length]
            placeholders = p.placeholder_ids()
            if sum(t in placeholders for t in cut) != expected:
                raise MedMLLMError(f"{len(sample['input_ids'])} tokens exceed data.max_length={self.max_length} "
                                   "and cutting would split an input's placeholder tokens")
            sample = {k: v[: self.max_length] for k, v in sample.items()}
        out = {k: torch.tensor(v) for k, v in sample.items()}
        for modality, paths in record_inputs(rec).items():
            out.update(p.inputs(modality, [root / path for path in paths]))
        return out


def merge_turns(records: list[dict]) -> dict:
    """One multi-turn record from single-turn records about the same inputs (placeholders kept once)."""
    first = records[0]
    conv = list(conversation(first))
    for rec in records[1:]:
        turns = [dict(t) for t in conversation(rec)]
        for t in turns:
            for ph in PLACEHOLDERS.values():
                t["content"] = t["content"].replace(ph + "\n", "").replace(ph, "")
        conv += turns
    return {k: v for k, v in first.items() if k not in ("prompt", "chosen", "rejected")} | {"conversations": conv}
