"""JSONL read line by line, each problem named `file:line`; no torch, so light commands can use it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..errors import MedMLLMError, brief


def iter_records(path: str | Path) -> Iterator[tuple[int, int, dict | MedMLLMError]]:
    """Yield (line number, byte offset, record or the error that line has) for each non-empty line."""
    path = Path(path)
    if not path.exists():
        raise MedMLLMError(f"{path}: manifest not found")
    if not path.is_file():
        raise MedMLLMError(f"{path}: is not a regular file (a folder, FIFO or device)")
    with open(path, "rb") as f:
        offset = 0
        for lineno, line in enumerate(f, 1):
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
                yield lineno, start, rec
            except RecursionError:
                yield lineno, start, MedMLLMError(f"{path}:{lineno}: not valid JSON (nested too deeply)")
            except ValueError as e:
                yield lineno, start, MedMLLMError(f"{path}:{lineno}: not valid JSON ({brief(e)})")
