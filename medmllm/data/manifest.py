"""JSONL manifests as a map-style data set of processed samples, read lazily.

Only byte offsets are kept in memory; a record is parsed (and its turns normalised, see
`records.py`) when it is used. Bad records fail with their location, or are counted and skipped
(`on_error="skip"`). With `pack_turns` > 1, records about the same inputs are packed into one
sample while it fits `max_length`, each kept apart from the others (`ManifestDataset.process_apart`).
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
from .processor import IGNORE_INDEX, MedMLLMProcessor
from .records import check_record, conversation, iter_manifest, read_record, record_inputs


class ManifestDataset(Dataset):
    """Map-style dataset over one or more manifests of processed samples; bad records fail or are skipped."""

    def __init__(self, manifests: list[str | Path], processor: MedMLLMProcessor, max_length: int = 512,
                 on_error: str = "fail", pack_turns: int = 1):
        self.processor, self.max_length, self.on_error = processor, max_length, on_error
        self.isolate = pack_turns > 1 and processor.isolates_packed_records
        """Packed records kept apart (`process_apart`)."""
        self.paths = [Path(m) for m in manifests]
        self.file_idx, self.offsets, self.lines = array("i"), array("q"), array("i")
        self.skipped: list[str] = []
        modalities = set(processor.settings.num_tokens)
        by_inputs: dict[tuple, list[int]] = {}
        convs: list[list[dict]] = []  # each record alone (packing only)
        twice: dict[int, list[dict]] = {}  # record -> itself twice, merged as turns (packed, not kept apart)
        prefixes: dict[int, str] = {}  # record -> its shared prefix, when kept apart (`shared_prefix`)
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
                    prefix = shared_prefix(rec) if self.isolate else None
                    if prefix is not None:
                        prefixes[len(self.offsets)] = prefix
                    else:
                        twice[len(self.offsets)] = merge_turns([rec, rec])["conversations"]
                    key = (k, json.dumps(record_inputs(rec), sort_keys=True), prefix)
                    by_inputs.setdefault(key, []).append(len(self.offsets))
                    convs.append(conversation(rec))
                self.file_idx.append(k), self.offsets.append(offset), self.lines.append(lineno)
        if not self.offsets:
            raise MedMLLMError(f"{', '.join(map(str, self.paths))}: no usable records")
        counts = token_counts(processor, convs + list(twice.values()))  # in one batch: see `lengths.py`
        lengths = counts[:len(convs)]  # tokens of each record alone
        first: dict[str, int] = {}
        for i, prefix in prefixes.items():
            first.setdefault(prefix, i)
        self.shared = {prefix: self._shared_tokens(convs[i]) for prefix, i in first.items()}
        """Tokens of each shared prefix: a record kept apart adds the rest of its tokens to a packed item."""
        doubled = dict(zip(twice, counts[len(convs):]))  # merged as a later turn: its length twice, less alone
        extras = [doubled[i] - n if i in doubled else n - self.shared[prefixes[i]] for i, n in enumerate(lengths)]
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
        if self.groups is None:
            return self.process(self.record(i), self.paths[self.file_idx[i]].parent)
        parts = [self.record(j) for j in self.groups[i]]
        root = self.paths[self.file_idx[self.groups[i][0]]].parent
        packed = self.process_apart(parts, root) if self.isolate and len(parts) > 1 else None
        return packed if packed is not None else self.process(merge_turns(parts), root)

    def _shared_tokens(self, conv: list[dict]) -> int:
        """How many tokens of `conv` come up to its last input placeholder (0 with none)."""
        placeholders = self.processor.placeholder_ids()
        ids = self.processor.encode(conv)["input_ids"]
        return 1 + max((t for t, tok in enumerate(ids) if tok in placeholders), default=-1)

    def process_apart(self, parts: list[dict], root: Path) -> dict | None:
        """Records about the same inputs, packed and kept apart. Each is encoded alone; their shared prefix
        (the template's header and the inputs' placeholders, `shared_prefix`) comes once, then each
        record's other tokens, which `segments` numbers 1, 2, ... (0: shared) and whose `position_ids`
        start where the prefix ends, as they would alone. Under the mask `llm/mask.py` builds from them,
        every record's tokens see what they would see alone: the loss is that of the records one by one,
        with the inputs encoded once. None if the prefixes' tokens differ after all (then merged as turns)."""
        p = self.processor
        encoded = [p.encode(conversation(rec)) for rec in parts]
        first = encoded[0]["input_ids"]
        shared = self.shared.get(shared_prefix(parts[0]))
        if shared is None or any(e["input_ids"][:shared] != first[:shared] or
                                 any(lab != IGNORE_INDEX for lab in e["labels"][:shared]) for e in encoded):
            return None
        sample = {"input_ids": first[:shared], "labels": encoded[0]["labels"][:shared], "segments": [0] * shared,
                  "position_ids": list(range(shared))}
        for k, e in enumerate(encoded, start=1):
            n = len(e["input_ids"]) - shared
            sample["input_ids"] += e["input_ids"][shared:]
            sample["labels"] += e["labels"][shared:]
            sample["segments"] += [k] * n
            sample["position_ids"] += range(shared, shared + n)
        return self.process(parts[0], root, sample)

    def process(self, rec: dict, root: Path, sample: dict[str, list[int]] | None = None) -> dict:
        """One record as tensors (`sample`: its tokens, when already encoded), cut to `max_length`."""
        p = self.processor
        sample = sample or p.encode(conversation(rec))
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


def shared_prefix(rec: dict) -> str | None:
    """What records about the same inputs share ahead of their own text, as a key: the system turns and
    the first user turn up to the end of its last placeholder ('' for a record without placeholders).
    None when a placeholder comes after the first user turn: such records are merged as turns of one chat."""
    head: list[dict] = []
    turns = conversation(rec)
    for n, turn in enumerate(turns):
        if turn["role"] == "system":
            head.append(turn)
            continue
        text = turn["content"]
        if turn["role"] != "user" or not isinstance(text, str):
            return None
        end = max((text.rfind(ph) + len(ph) for ph in PLACEHOLDERS.values() if ph in text), default=0)
        if any(ph in str(t["content"]) for t in turns[n + 1:] for ph in PLACEHOLDERS.values()):
            return None
        return json.dumps([*head, {"role": "user", "content": text[:end]}]) if end else ""
    return None


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
