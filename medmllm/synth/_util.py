"""Small shared helpers for MedSynth: seeded generators and atomic file writes."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Independent random streams used per case (changing one never shifts another).
STREAM_FINDINGS = 0
STREAM_RENDER = 1
STREAM_TEXT = 2
STREAM_IDENTITY = 3
STREAM_SPLIT = 4
STREAM_BALANCE = 5


def modality_code(name: str) -> int:
    """Return a stable (process-independent) integer code for a string."""
    return zlib.crc32(name.encode("utf-8"))


def case_rng(seed: int, modality: str, index: int, stream: int) -> np.random.Generator:
    """Return the generator for one (seed, modality, case, stream) combination.

    Each case gets its own generators, so case ``i`` is identical whatever ``n`` is.
    """
    return np.random.default_rng([int(seed), modality_code(modality), int(index), int(stream)])


def _tmp_path(path: Path) -> Path:
    """Temporary sibling of ``path`` (same folder, so ``os.replace`` is atomic)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_with(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` to create a temp file, then move it onto ``path`` atomically."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
