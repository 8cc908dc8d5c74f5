"""``scrub_jsonl``: scrub the text fields of a JSONL manifest into a new file, written atomically.

Records are read one line at a time and scrubbed with :func:`scrub_text`; every error names the
file and line (and the field, for a text over the length limit).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...chat import text_slots
from ...errors import MedMLLMError
from ...files import atomic_write
from .scrub import scrub_text

__all__ = ["scrub_jsonl"]


def _scrub_record(record: dict, fields: list[str] | None, names: list[str], kinds: dict[str, int],
                  where: str, max_chars: int | None) -> int:
    """Scrub the chosen string fields of one manifest record in place; return how many were scrubbed."""
    targets: list[tuple[Any, Any, str]] = []  # (container, key, label)
    if fields:
        for field in fields:
            if field in record:
                targets.append((record, field, field))
    else:
        if "text" in record:
            targets.append((record, "text", "text"))
        conv = record.get("conversations")
        if conv is not None:
            if not isinstance(conv, list):
                raise MedMLLMError(f"{where}: 'conversations' is not a list")
            for i, turn in enumerate(conv):
                if not isinstance(turn, dict):
                    raise MedMLLMError(f"{where}: conversations[{i}] is not an object")
        targets += list(text_slots(record))  # every turn, either form, and a DPO record's prompt and answers
    for container, key, label in targets:
        value = container[key]
        if value is None:
            continue
        if not isinstance(value, str):
            raise MedMLLMError(f"{where}: field {label!r} is not a string ({type(value).__name__})")
        clean, findings = scrub_text(value, names=names, max_chars=max_chars, where=f"{where}: field {label!r}")
        container[key] = clean
        for f in findings:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
    return len(targets)


def scrub_jsonl(in_path: str | Path, out_path: str | Path, *, fields: Iterable[str] | None = None,
                names: Iterable[str] | None = None, max_chars: int | None = None) -> dict[str, Any]:
    """Scrub a JSONL manifest into ``out_path`` (written atomically); return counts.

    By default every turn text (``value`` or ``content`` in ``conversations`` and ``prompt``, a
    preference record's ``chosen`` and ``rejected``) and a top-level ``text`` are scrubbed; ``fields``
    names top-level string fields instead. Bad lines raise ``MedMLLMError("<file>:<line>: ...")``.
    """
    import json

    src, dst = Path(in_path), Path(out_path)
    if not src.is_file():
        raise MedMLLMError(f"{src}: file not found")
    if dst.exists() and dst.resolve() == src.resolve():
        raise MedMLLMError(f"{dst}: the output is the input file; choose another path (input is never modified)")
    fields = [f for f in (fields or []) if f] or None
    names = list(names or [])
    kinds: dict[str, int] = {}
    records = scrubbed = 0
    out_lines: list[str] = []
    try:
        fh = open(src, encoding="utf-8")
    except OSError as e:
        raise MedMLLMError(f"{src}: cannot read ({e.strerror or e})") from None
    with fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{src}:{lineno}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise MedMLLMError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
                if not isinstance(record, dict):
                    raise MedMLLMError(f"{where}: a record must be a JSON object, not {type(record).__name__}")
                scrubbed += _scrub_record(record, fields, names, kinds, where, max_chars)
                records += 1
                out_lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        except UnicodeDecodeError as e:
            raise MedMLLMError(f"{src}:{lineno + 1}: not UTF-8 text ({e.reason})") from None
    atomic_write(dst, "".join(out_lines))
    return {"records": records, "fields_scrubbed": scrubbed, "findings": dict(sorted(kinds.items())),
            "out": dst}
