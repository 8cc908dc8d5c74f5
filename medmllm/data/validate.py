"""`medmllm data validate`: check every record of a manifest, streaming, in constant memory.

Per record (turns normalised as `records.py` reads them): JSON, roles alternate (user first), no empty answers, placeholders match the attached
inputs, files exist and decode as the right kind (an `image` key must hold an image, `volume` a
3D volume, `ecg` a signal). Prints one line per bad record (`manifest.jsonl:123: ...`), then a summary.
Decoded files are remembered in a bounded cache, so records sharing a file decode it once.
"""
from __future__ import annotations

import sys
from collections import Counter, OrderedDict
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from ..errors import MedMLLMError, brief
from . import io
from .records import check_record, iter_manifest, record_inputs

ACCEPTS = {"image": ("image", "volume"), "volume": ("volume",), "ecg": ("signal",)}


class _DecodeCache:
    """path -> None (decodes) or the problem; at most `size` entries (least recently used dropped)."""

    def __init__(self, size: int = 4096):
        self.size, self.items = size, OrderedDict()

    def check(self, modality: str, path: Path) -> str | None:
        key = (modality, str(path))
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        try:
            if modality == "ecg":
                io.read_ecg(path)
                problem = None
            else:
                kind = io.load(path).kind
                problem = None if kind in ACCEPTS[modality] else f"{path}: is {'an' if kind == 'image' else 'a'} {kind}, not usable as '{modality}'"
        except MedMLLMError as e:
            problem = str(e)
        except Exception as e:  # a decoder's own error type: still one line naming the file
            problem = f"{path}: {type(e).__name__}: {brief(e)}"
        self.items[key] = problem
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return problem


def validate(manifests: list[str | Path], decode: bool = True, out: TextIO | None = None,
             max_lines: int | None = None) -> dict:
    """Check each record of each manifest; print the bad ones; return counts per manifest and in total."""
    cache = _DecodeCache()
    total: Counter = Counter()
    per_file = {}
    for manifest in map(Path, manifests):
        counts: Counter = Counter()
        for lineno, _, rec in tqdm(iter_manifest(manifest), desc=f"validate {manifest.name}", unit=" records",
                                   file=sys.stderr, disable=None, leave=False):
            counts["records"] += 1
            problem = str(rec) if isinstance(rec, MedMLLMError) else None
            if problem is None:
                why = check_record(rec, manifest.parent)
                if why is None and decode:
                    why = next((p for m, paths in record_inputs(rec).items() for f in paths
                                if (p := cache.check(m, manifest.parent / f))), None)
                problem = f"{manifest}:{lineno}: {why}" if why else None
                if problem is None:
                    for m, paths in record_inputs(rec).items():
                        counts[m] += len(paths)
            if problem:
                counts["bad"] += 1
                if max_lines is None or total["bad"] + counts["bad"] <= max_lines:
                    print(problem, file=out or sys.stdout)
        counts["ok"] = counts["records"] - counts["bad"]
        per_file[str(manifest)] = dict(counts)
        total.update(counts)
    return {"manifests": per_file, "records": total["records"], "ok": total["ok"], "bad": total["bad"],
            "inputs": {m: total[m] for m in ACCEPTS if total[m]}, "decoded": decode}
