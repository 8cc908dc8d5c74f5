"""Manifest records: read them, normalise their turns, and say what is wrong with one. No torch.

An SFT record: `{"id", "image"|"volume"|"ecg": path or [paths], "conversations": [turns], "meta": {...}}`,
paths relative to the manifest's folder. A preference record (DPO) has `prompt` (turns, or one
string), `chosen` and `rejected` (a string, one message, or a list holding one) instead of
`conversations`. Turns on disk may be LLaVA's `{"from": "human"|"gpt", "value"}` or `{"role",
"content"}`: `iter_manifest` and `read_record` normalise each record with `chat.normalize_record`
as it is read, so from here on a turn is always `{"role", "content"}`.

Every problem is reported as `manifest.jsonl:LINE: what is wrong` (`check_record` returns the
"what"). `data validate`, the data sets, the converters and the evaluation tasks all use these.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..chat import MODALITIES, PLACEHOLDERS, normalize_record
from ..errors import MedMLLMError
from .jsonl import iter_records

SIDES = ("chosen", "rejected")


def iter_manifest(path: str | Path) -> Iterator[tuple[int, int, dict | MedMLLMError]]:
    """(line number, byte offset, normalised record or the error that line has) for each record."""
    for lineno, offset, rec in iter_records(path):
        yield lineno, offset, rec if isinstance(rec, MedMLLMError) else normalize_record(rec)


def read_record(path: str | Path, offset: int) -> dict:
    """The normalised record at a byte offset (from `iter_manifest`)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return normalize_record(json.loads(f.readline()))


def record_inputs(rec: dict) -> dict[str, list[str]]:
    """Modality -> list of file paths (a record may carry one path or a list)."""
    out = {}
    for modality in MODALITIES:
        v = rec.get(modality)
        if v is not None:
            out[modality] = [v] if isinstance(v, str) else list(v)
    return out


def is_preference(rec: dict) -> bool:
    return "chosen" in rec or "rejected" in rec


def conversation(rec: dict, side: str = "chosen") -> list[dict]:
    """The turns a record trains on: its `conversations`; for a preference record, the prompt
    followed by the `side` answer."""
    if not is_preference(rec):
        return rec["conversations"]
    answer = rec.get(side)
    return list(rec.get("prompt") or []) + [{"role": "assistant", "content": answer if isinstance(answer, str) else ""}]


def check_record(rec: dict, root: Path, modalities: set[str] | None = None, check_files: bool = True) -> str | None:
    """What is wrong with a normalised record (None if nothing): structure, placeholders, files."""
    if is_preference(rec):
        return _check_preference(rec, root, modalities, check_files)
    conv = rec.get("conversations")
    if not isinstance(conv, list) or not conv:
        return "no 'conversations' list"
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or not isinstance(turn.get("content"), str):
            return f"conversations[{i}] has no text 'value'"
        want = "user" if i % 2 == 0 else "assistant"
        if turn.get("role") != want:
            return (f"conversations[{i}] should be from {'human' if want == 'user' else 'gpt'!r} (or role {want!r}; "
                    "roles must alternate, human first)")
        if want == "assistant" and not turn["content"].strip():
            return f"conversations[{i}] is an empty answer"
    if len(conv) % 2:
        return "conversation ends without an answer"
    return _check_inputs(rec, "".join(t["content"] for t in conv), root, modalities, check_files)


def _check_inputs(rec: dict, text: str, root: Path, modalities: set[str] | None, check_files: bool) -> str | None:
    """Input paths well-formed, one placeholder per input, an encoder for each, files present."""
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


def _check_preference(rec: dict, root: Path, modalities: set[str] | None, check_files: bool) -> str | None:
    """What is wrong with a preference record: prompt, answers, placeholders, files."""
    if "conversations" in rec:
        return "has both 'conversations' and 'chosen'/'rejected': a record is either SFT or preference"
    turns = rec.get("prompt")
    if not isinstance(turns, list) or not turns:
        return "no 'prompt' (a string or a non-empty list of turns)"
    if len(turns) % 2 == 0:
        return "the prompt should end with a human turn (odd number of turns, human first)"
    for side in SIDES:
        text = rec.get(side)
        if not isinstance(text, str):
            return f"no '{side}' answer (a string or one message)"
        if not text.strip():
            return f"'{side}' is an empty answer"
        if any(ph in text for ph in PLACEHOLDERS.values()):
            return f"'{side}' contains a modality placeholder; placeholders belong in the prompt"
    if rec["chosen"].strip() == rec["rejected"].strip():
        return "'chosen' and 'rejected' are the same answer"
    why = check_record({k: v for k, v in rec.items() if k not in ("prompt", *SIDES)}
                       | {"conversations": conversation(rec)}, root, modalities, check_files)
    return why.replace("conversations[", "prompt[") if why else None
