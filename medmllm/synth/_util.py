"""Small shared helpers for MedSynth: seeded random streams (files are written by `medmllm.files`)."""

from __future__ import annotations

import zlib

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
