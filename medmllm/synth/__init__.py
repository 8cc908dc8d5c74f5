"""MedSynth: a deterministic, built-in synthetic medical data set in real file formats.

``synthesize(out_dir)`` writes chest-radiograph phantoms (PNG + DICOM), abdominal CT
phantoms (NIfTI) and 12-lead ECGs (WFDB), plus LLaVA-style JSONL manifests for report
generation, VQA and multi-step reasoning.  Output is byte-identical for the same
``(modalities, n, seed)``; nothing is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import ct, ecg, xray
from ..files import atomic_write
from ._util import STREAM_FINDINGS, STREAM_IDENTITY, STREAM_RENDER, STREAM_TEXT, case_rng
from .manifest import Case, assign_splits, validate_fractions, write_manifests
from .text import case_text

__all__ = ["MODALITIES", "VERSION", "synthesize", "make_case"]

VERSION = 1
MODALITIES = ("ct", "ecg", "xray")

_SAMPLERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "xray": xray.sample_findings, "ct": ct.sample_findings, "ecg": ecg.sample_findings,
}


def _check_modalities(modalities: Sequence[str] | str) -> list[str]:
    """Validate and de-duplicate the requested modalities (order kept)."""
    if isinstance(modalities, str):
        modalities = (modalities,)
    out: list[str] = []
    for m in modalities:
        if m not in MODALITIES:
            raise ValueError(f"unknown modality {m!r}; choose from {', '.join(MODALITIES)}")
        if m not in out:
            out.append(m)
    return out


def _write_files(modality: str, out_dir: Path, case_id: str, f: dict[str, Any], seed: int,
                 index: int) -> dict[str, str]:
    """Render and write the media files of one case; return relative paths."""
    render_rng = case_rng(seed, modality, index, STREAM_RENDER)
    if modality == "xray":
        return xray.write_case(out_dir, case_id, f, seed, render_rng, case_rng(seed, modality, index, STREAM_IDENTITY))
    if modality == "ct":
        return ct.write_case(out_dir, case_id, f, render_rng)
    return ecg.write_case(out_dir, case_id, f, render_rng)


def make_case(out_dir: str | Path, modality: str, index: int, seed: int = 0, split: str = "train") -> Case:
    """Synthesize case ``index`` of ``modality`` (files written under ``out_dir``).

    A case depends only on ``(seed, modality, index)``, not on how many cases are made.
    """
    _check_modalities([modality])
    case_id = f"{modality}-{index:05d}"
    findings = _SAMPLERS[modality](case_rng(seed, modality, index, STREAM_FINDINGS))
    paths = _write_files(modality, Path(out_dir), case_id, findings, seed, index)
    text = case_text(modality, findings, case_rng(seed, modality, index, STREAM_TEXT))
    return Case(modality, case_id, paths, findings, text, split)


def synthesize(out_dir: str | Path, modalities: Sequence[str] = ("xray", "ct", "ecg"), n: int = 200, seed: int = 0,
               split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
               progress: bool = False) -> dict[str, Path]:
    """Write n cases per modality under out_dir; return {manifest_name: path}.

    Args:
        out_dir: output folder (created if needed); manifests go at its top level and media
            files under ``xray/``, ``ct/`` and ``ecg/``.
        modalities: any of ``"xray"``, ``"ct"``, ``"ecg"``.
        n: number of cases per modality.
        seed: master seed; the same ``(modalities, n, seed)`` gives byte-identical output.
        split_fractions: train/val/test fractions (non-negative, summing to 1).
        progress: show a tqdm progress bar per modality.

    Returns:
        Mapping such as ``"xray_vqa_train" -> out_dir / "xray_vqa_train.jsonl"`` (9 per modality).
    """
    mods = _check_modalities(modalities)
    fractions = validate_fractions(split_fractions)
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifests: dict[str, Path] = {}
    counts: dict[str, int] = {}
    for modality in mods:
        splits = assign_splits(int(n), fractions, seed, modality)
        cases = [make_case(out, modality, i, seed, splits[i])
                 for i in tqdm(range(int(n)), desc=f"MedSynth {modality}", unit="case", disable=not progress)]
        for name, (path, count) in write_manifests(out, modality, cases, seed).items():
            manifests[name], counts[name] = path, count
    info = {"seed": seed, "n": int(n), "modalities": mods, "split_fractions": list(fractions),
            "counts": counts, "version": VERSION}
    atomic_write(out / "medsynth.json", (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    return manifests
