"""Modalities and chat turns: the vocabulary every layer shares (a leaf: it imports nothing of ours).

* `MODALITIES` and their text `PLACEHOLDERS` (`<image>`, `<volume>`, `<ecg>`).
* Inside medmllm a turn is always ``{"role": "user" | "assistant" | "system", "content": str}``.
  Manifests on disk may use LLaVA's ``{"from": "human" | "gpt", "value": ...}`` or the OpenAI
  ``{"role", "content"}`` form; `normalize_record` turns either into the one form when a record is
  read (the edge), and nothing after that tells the two apart.
"""
from __future__ import annotations

from typing import Any

MODALITIES = ("image", "volume", "ecg")
PLACEHOLDERS = {"image": "<image>", "volume": "<volume>", "ecg": "<ecg>"}
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def normalize_turn(turn: Any) -> Any:
    """One turn as ``{"role", "content"}`` (LLaVA's ``from``/``value`` mapped: human -> user, gpt ->
    assistant). Anything that is not a turn-shaped mapping comes back unchanged, for the record
    check to name; an unknown role is kept as written, for the same reason."""
    if not isinstance(turn, dict):
        return turn
    role = turn.get("role", turn.get("from"))
    content = turn.get("content", turn.get("value"))
    if role is None and content is None:
        return turn
    return {"role": ROLES.get(role, role) if isinstance(role, str) else role, "content": content}


def normalize_turns(turns: Any) -> Any:
    """A list of turns, each normalised; a non-list comes back unchanged."""
    return [normalize_turn(t) for t in turns] if isinstance(turns, list) else turns


def normalize_record(rec: dict) -> dict:
    """A manifest record with its turns in the one form: `conversations`, a preference record's
    `prompt` (a plain string becomes one user turn) and its `chosen` / `rejected` answers (a
    message, or a list holding one, becomes its text). The input is not modified."""
    out = dict(rec)
    if "conversations" in out:
        out["conversations"] = normalize_turns(out["conversations"])
    if isinstance(out.get("prompt"), str):
        out["prompt"] = [{"role": "user", "content": out["prompt"]}]
    elif "prompt" in out:
        out["prompt"] = normalize_turns(out["prompt"])
    for side in ("chosen", "rejected"):
        value = out.get(side)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, dict):
            value = normalize_turn(value).get("content")
        if side in out:
            out[side] = value
    return out


def text_slots(rec: dict):
    """Every turn text of a record in its on-disk form, as (container, key, label) triples, for code
    that must rewrite a record in place without changing its form (de-identification): each
    `value` / `content` of `conversations` and `prompt`, a string `prompt`, and `chosen` /
    `rejected` (a string, one message, or a list of messages). Malformed parts are not yielded."""
    for field in ("conversations", "prompt"):
        turns = rec.get(field)
        if field == "prompt" and isinstance(turns, str):
            yield rec, field, field
        yield from _turn_slots(turns, field)
    for side in ("chosen", "rejected"):
        value = rec.get(side)
        if isinstance(value, str):
            yield rec, side, side
        elif isinstance(value, dict):
            yield from _turn_slots([value], side)
        else:
            yield from _turn_slots(value, side)


def _turn_slots(turns: Any, field: str):
    if isinstance(turns, list):
        for i, turn in enumerate(turns):
            if isinstance(turn, dict):
                for key in ("value", "content"):
                    if key in turn:
                        yield turn, key, f"{field}[{i}].{key}"
