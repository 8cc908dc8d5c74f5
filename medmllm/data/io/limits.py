"""Size limits every reader checks from the file's header, before it decodes anything.

A 300 kB deflated DICOM or a 450 kB PNG can claim billions of pixels; decoding first and looking
afterwards is how a hostile file takes the machine's memory. So each reader reads the header
(DICOM Rows × Columns × NumberOfFrames × SamplesPerPixel × BitsAllocated, PIL's size, NIfTI's
dim, WFDB's sig_len × n_sig), calls `check(...)` here, and only then decodes. Compressed inputs are
bounded by what their header claims: a deflated DICOM is inflated in steps (`dicom._read_deflated`),
and nibabel reads exactly dim × itemsize bytes from a `.nii.gz` stream.

Defaults (chosen to pass any real study with room to spare, and to stop at about 1-2 GB of float32):

| limit | default | env variable | what it bounds |
|---|---|---|---|
| `pixels` | 100 M | `MEDMLLM_MAX_PIXELS` | pixels of one 2D image or frame (a 10k × 10k slide) |
| `voxels` | 512·512·2000 ≈ 524 M | `MEDMLLM_MAX_VOXELS` | pixels × frames of a volume, series or multi-frame file |
| `frames` | 10 000 | `MEDMLLM_MAX_FRAMES` | frames of a multi-frame DICOM, files of a series |
| `samples` | 10 M | `MEDMLLM_MAX_SAMPLES` | samples per lead of an ECG |
| `leads` | 64 | `MEDMLLM_MAX_LEADS` | channels of an ECG |
| `bytes` | 4 GiB | `MEDMLLM_MAX_BYTES` | decoded bytes of one file (DICOM pixel data, NIfTI voxels as float32) |

`medmllm data inspect` and `data validate` take `--max-pixels`, `--max-voxels`, `--max-frames`,
`--max-samples`, `--max-leads`, `--max-bytes` (and the environment variables work everywhere: training, eval, chat).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from ...errors import MedMLLMError

ENV = {"pixels": "MEDMLLM_MAX_PIXELS", "voxels": "MEDMLLM_MAX_VOXELS", "frames": "MEDMLLM_MAX_FRAMES",
       "samples": "MEDMLLM_MAX_SAMPLES", "leads": "MEDMLLM_MAX_LEADS", "bytes": "MEDMLLM_MAX_BYTES"}


@dataclass(frozen=True)
class Limits:
    """The largest input a reader decodes (see the module docstring for each field)."""

    pixels: int = 100_000_000
    voxels: int = 512 * 512 * 2000
    frames: int = 10_000
    samples: int = 10_000_000
    leads: int = 64
    bytes: int = 4 << 30


_override: dict[str, int] = {}


def current() -> Limits:
    """The defaults, overridden by the environment variables, then by `set_limits` (the CLI flags)."""
    values = {}
    for f in fields(Limits):
        raw = os.environ.get(ENV[f.name])
        if raw:
            try:
                values[f.name] = int(float(raw))
            except ValueError:
                raise MedMLLMError(f"{ENV[f.name]}: {raw!r} is not a number") from None
            if values[f.name] <= 0:
                raise MedMLLMError(f"{ENV[f.name]}: must be positive, got {raw}")
    return replace(Limits(**values), **_override)


def set_limits(**values: int | None) -> None:
    """Override limits for this process (the CLI's `--max-*` flags); None leaves one as it is."""
    for name, value in values.items():
        if value is None:
            continue
        if name not in ENV:
            raise MedMLLMError(f"unknown limit {name!r}; choose from {', '.join(ENV)}")
        if value <= 0:
            raise MedMLLMError(f"--max-{name}: must be positive, got {value}")
        _override[name] = int(value)


def check(path: object, what: str, value: float, limit_name: str) -> None:
    """Raise a one-line MedMLLMError when `value` (what the header claims) exceeds the named limit."""
    limit = getattr(current(), limit_name)
    if value > limit:
        raise MedMLLMError(f"{path}: {what} {int(value):,} exceeds the limit of {limit:,} {limit_name} "
                           f"(raise it with --max-{limit_name} or {ENV[limit_name]})")
