"""MedSynth preference pairs for DPO: the true report (chosen) against one with a single hallucination (rejected).

From each MedSynth report record (``{modality}_report_{split}.jsonl``), one pair::

    {"id": "xray-00003-pref", "image": "xray/xray-00003.png",
     "prompt": [{"from": "human", "value": "<image>\\nDescribe the findings in this chest radiograph."}],
     "chosen": "<the case's report>", "rejected": "<the same report with one hallucination>",
     "meta": {"case", "modality", "task": "pref", "split", "findings",
              "hallucination": {"kind": "absent_finding" | "wrong_side", "finding": ..., ...}}}

The rejected report is the chosen one with exactly one edit, phrased with MedSynth's own sentence
pools (``text.py``), so nothing but the hallucination tells the two apart:

* ``absent_finding``: a finding the case does not have replaces the sentence that negated it
  (x-ray ``effusion``/``pneumothorax`` with a random side, ``nodule`` with a random zone and size,
  ``cardiomegaly`` with an enlarged cardiothoracic ratio; CT a ``lesion`` in a normal liver or kidney),
  and the impression gains the matching item (in MedSynth's priority order) or, for a normal
  impression, becomes that item;
* ``wrong_side``: every sentence about a present lateral finding (x-ray effusion or pneumothorax,
  CT kidney lesion or liver-lobe lesion) has ``left`` and ``right`` swapped.

The kind and finding are drawn uniformly among those a case allows, from a generator seeded by
``(seed, case id)``: the same seed gives the same pairs whatever else is in the manifest.  ECG
reports have no finding that can be added or mirrored this way and get no pairs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write
from ._util import modality_code
from .manifest import MEDIA_KEYS, SPLITS, jsonl_bytes
from .questions import XRAY_MAIN_ORDER, xray_abnormalities
from .text import _ct_organ_lines, _xray_heart, _xray_impression, _xray_nodules, _xray_pleura, ct_report

__all__ = ["PREF_MODALITIES", "make_pair", "preference_records", "write_preferences"]

PREF_MODALITIES = ("xray", "ct")
STREAM_PREF = 6  # after the streams of ``_util`` (a new stream never shifts the others)
SIDES = ("right", "left")
_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}
# MedSynth finding -> the XRAY_MAIN_ORDER name its impression item is ordered by
_ORDER_NAME = {"pneumothorax": "pneumothorax", "effusion": "pleural effusion", "nodule": "pulmonary nodule",
               "cardiomegaly": "cardiomegaly"}
# words that tie a report sentence to a finding (for side swaps and impression items)
_KEYWORDS = {"effusion": ("effusion",), "pneumothorax": ("pneumothorax",), "nodule": ("nodule",),
             "cardiomegaly": ("cardiomegaly", "cardiac silhouette"), "kidney": ("kidney",),
             "liver": ("lobe of the liver",)}


class _Fixed:
    """A stand-in generator whose ``integers`` always returns ``k``: enumerates a phrasing pool."""

    def __init__(self, k: int):
        self.k = k

    def integers(self, n: int) -> int:
        return min(self.k, n - 1)


def _pool(fn, f: dict[str, Any], index: int = 0, size: int = 3) -> list[str]:
    """Every phrasing MedSynth can give a sentence: ``fn(f, rng)`` (or its ``index``-th sentence)."""
    out = []
    for k in range(size):
        s = fn(f, _Fixed(k))
        out.append(s[index] if isinstance(s, list) else s)
    return out


def _replace_one(text: str, pool: Sequence[str], new: str) -> str:
    """Replace the one sentence of ``pool`` that ``text`` contains by ``new``."""
    for old in pool:
        if old in text:
            return text.replace(old, new, 1)
    raise ValueError(f"none of {list(pool)!r} found in the report")


def _chunks(text: str) -> list[str]:
    """Sentences and impression items with their separators kept (odd indices), so ``"".join`` restores text."""
    return re.split(r"((?<=\.)\s+|\n)", text)


def _swap_sides(text: str, keywords: Sequence[str]) -> str:
    """Swap left and right in every sentence that mentions one of ``keywords``."""
    parts = _chunks(text)
    for i in range(0, len(parts), 2):
        if any(k in parts[i].lower() for k in keywords):
            parts[i] = re.sub(r"\b(left|right|Left|Right)\b", lambda m: _SWAP[m.group(1)], parts[i])
    return "".join(parts)


# --------------------------------------------------------------------------- x-ray
def _xray_fake(finding: str, f: dict[str, Any], rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """Findings with only ``finding`` present (values drawn from ``rng``), and what was drawn."""
    fake = {"pneumothorax": False, "pneumothorax_side": None, "effusion": False, "effusion_side": None,
            "nodules": [], "n_nodules": 0, "cardiomegaly": False, "ctr": f["ctr"]}
    if finding in ("effusion", "pneumothorax"):
        side = SIDES[int(rng.integers(2))]
        fake.update({finding: True, f"{finding}_side": side})
        return fake, {"side": side}
    if finding == "nodule":
        side, level = SIDES[int(rng.integers(2))], ("upper", "middle", "lower")[int(rng.integers(3))]
        nodule = {"zone": f"{side} {level} zone", "side": side, "level": level, "size_mm": int(rng.integers(12, 31))}
        fake.update({"nodules": [nodule], "n_nodules": 1})
        return fake, {"zone": nodule["zone"], "size_mm": nodule["size_mm"]}
    ctr = round(float(rng.uniform(0.56, 0.64)), 2)
    fake.update({"cardiomegaly": True, "ctr": ctr})
    return fake, {"ctr": ctr}


def _xray_add_impression(impression: str, f: dict[str, Any], finding: str, item: str) -> str:
    """The impression with ``item`` added in MedSynth's priority order (a normal impression is replaced)."""
    present = xray_abnormalities(f)
    if not present:
        return item
    items = [t.strip() for t in re.split(r"(?:^|\s)\d\.\s", impression) if t.strip()] if len(present) > 1 \
        else [impression]
    if len(items) != len(present):
        raise ValueError(f"cannot split the impression {impression!r} into {len(present)} items")
    named = list(zip(present, items)) + [(_ORDER_NAME[finding], item)]
    named.sort(key=lambda p: XRAY_MAIN_ORDER.index(p[0]))
    return " ".join(f"{i}. {t}" for i, (_, t) in enumerate(named, 1))


def _xray_pair(report: str, f: dict[str, Any], rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    present = {"effusion": bool(f["effusion"]), "pneumothorax": bool(f["pneumothorax"]),
               "nodule": f["n_nodules"] > 0, "cardiomegaly": bool(f["cardiomegaly"])}
    options = [("absent_finding", k) for k in ("cardiomegaly", "effusion", "pneumothorax", "nodule") if not present[k]]
    options += [("wrong_side", k) for k in ("effusion", "pneumothorax") if present[k]]
    kind, finding = options[int(rng.integers(len(options)))]
    if kind == "wrong_side":
        true_side = f[f"{finding}_side"]
        return _swap_sides(report, _KEYWORDS[finding]), {"kind": kind, "finding": finding,
                                                         "side": _SWAP[true_side], "true_side": true_side}
    fake, drawn = _xray_fake(finding, f, rng)
    none = {"effusion_side": None, "pneumothorax_side": None, "nodules": [], "n_nodules": 0,
            "cardiomegaly": False, "ctr": f["ctr"]}
    if finding in ("effusion", "pneumothorax"):
        index = 0 if finding == "effusion" else 1
        old, new = _pool(_xray_pleura, none, index), _xray_pleura(fake, rng)[index]
    elif finding == "nodule":
        old, new = _pool(_xray_nodules, none), _xray_nodules(fake, rng)
    else:
        old, new = _pool(_xray_heart, none), _xray_heart(fake, rng)
    body, sep, impression = report.partition("\nIMPRESSION: ")
    if not sep:
        raise ValueError("the report has no IMPRESSION section")
    body = _replace_one(body, old, new)
    impression = _xray_add_impression(impression, f, finding, _xray_impression(fake, rng))
    return f"{body}{sep}{impression}", {"kind": kind, "finding": finding, **drawn}


# --------------------------------------------------------------------------- CT
def _ct_pair(report: str, f: dict[str, Any], rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    if f["lesions"]:  # every MedSynth lesion is in a left or right kidney or liver lobe: mirror them all
        organ = "liver" if f["lesion_organ"] == "liver" else "kidney"
        locations = sorted({les["location"] for les in f["lesions"]})
        return _swap_sides(report, _KEYWORDS[organ]), {
            "kind": "wrong_side", "finding": "lesion", "true_location": locations,
            "location": [re.sub(r"\b(left|right)\b", lambda m: _SWAP[m.group(1)], loc) for loc in locations]}
    locations = ("right lobe of the liver", "left lobe of the liver", "left kidney", "right kidney")
    location = locations[int(rng.integers(len(locations)))]
    organ = "liver" if "liver" in location else location
    lesion = {"location": location, "organ": organ, "size_mm": int(rng.integers(12, 31))}
    fake = {**f, "normal": False, "lesions": [lesion], "n_lesions": 1, "lesion_organ": organ}
    line = 0 if organ == "liver" else 2  # _ct_organ_lines: Liver, Spleen, Kidneys, Other
    new_line = _ct_organ_lines(fake, rng)[line]
    new_impression = ct_report(fake, rng).partition("\nIMPRESSION: ")[2]
    body, sep, _ = report.partition("\nIMPRESSION: ")
    body = _replace_one(body, _pool(_ct_organ_lines, f, line), new_line)
    return f"{body}{sep}{new_impression}", {"kind": "absent_finding", "finding": "lesion", "location": location,
                                           "size_mm": lesion["size_mm"]}


_PAIRERS = {"xray": _xray_pair, "ct": _ct_pair}


# --------------------------------------------------------------------------- records and manifests
def make_pair(record: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The preference record of one MedSynth report record (deterministic in ``seed`` and the case id)."""
    meta = record["meta"]
    modality, case = meta["modality"], meta["case"]
    if modality not in _PAIRERS:
        raise ValueError(f"no preference pairs for {modality!r}; choose from {', '.join(PREF_MODALITIES)}")
    human, gpt = record["conversations"][0], record["conversations"][1]
    rng = np.random.default_rng([int(seed), modality_code(case), STREAM_PREF])
    rejected, hallucination = _PAIRERS[modality](gpt["value"], meta["findings"], rng)
    if rejected == gpt["value"]:
        raise ValueError(f"{case}: the hallucinated report equals the true one")
    media = MEDIA_KEYS[modality]
    out_meta = {"case": case, "modality": modality, "task": "pref", "split": meta.get("split"),
                "hallucination": hallucination}
    if "dicom" in meta:
        out_meta["dicom"] = meta["dicom"]
    out_meta["findings"] = meta["findings"]
    return {"id": f"{case}-pref", media: record[media], "prompt": [{"from": "human", "value": human["value"]}],
            "chosen": gpt["value"], "rejected": rejected, "meta": out_meta}


def preference_records(report_manifest: str | Path, seed: int = 0) -> list[dict[str, Any]]:
    """Preference records for every record of a MedSynth report manifest."""
    lines = Path(report_manifest).read_text(encoding="utf-8").splitlines()
    return [make_pair(json.loads(line), seed) for line in lines if line.strip()]


def write_preferences(out_dir: str | Path, modalities: Sequence[str] = PREF_MODALITIES,
                      seed: int | None = None) -> dict[str, Path]:
    """Write ``{modality}_pref_{split}.jsonl`` next to the report manifests (atomically); return {name: path}.

    ``seed`` defaults to the data set's own (``medsynth.json``); modalities without pairs (ECG) are
    skipped, and so are those whose report manifests are missing."""
    out = Path(out_dir)
    if seed is None:
        info = out / "medsynth.json"
        seed = json.loads(info.read_text())["seed"] if info.is_file() else 0
    written: dict[str, Path] = {}
    for modality in modalities:
        if modality not in _PAIRERS:
            continue
        for split in SPLITS:
            src = out / f"{modality}_report_{split}.jsonl"
            if not src.is_file():
                continue
            name = f"{modality}_pref_{split}"
            written[name] = atomic_write(out / f"{name}.jsonl", jsonl_bytes(preference_records(src, seed)))
    return written

