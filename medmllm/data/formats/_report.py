"""Shared by the chest X-ray report formats: the instruction, section splitting, and R2Gen's annotation.json."""
from __future__ import annotations

import re
from pathlib import Path

from ...errors import MedMLLMError
from . import FILTERED, Context, read_json, vqa_record

INSTRUCTION = "Describe the findings of this chest X-ray."
# a heading in capitals at the start of a line, e.g. " FINDINGS:" or "IMPRESSION:" (as MIMIC-CXR's section_parser)
_HEADING = re.compile(r"(?m)^[ \t]*([A-Z][A-Z ,&/()-]*[A-Z)])[ \t]*:")


def clean(text: str | None) -> str:
    return " ".join((text or "").split())


def sections(text: str) -> dict[str, str]:
    """Heading (upper case) -> its text with whitespace collapsed; text before the first heading under ''."""
    out: dict[str, str] = {}
    heads = list(_HEADING.finditer(text))
    out[""] = clean(text[: heads[0].start()] if heads else text)
    for k, m in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(text)
        out[m.group(1).strip()] = clean(text[m.end():end])
    return out


def findings_impression(secs: dict[str, str]) -> tuple[str, str]:
    """FINDINGS and IMPRESSION sections, as MIMIC-CXR's create_section_files.py takes them (with the
    common variants "FINDINGS AND IMPRESSION" -> findings, "CONCLUSION" -> impression)."""
    findings = secs.get("FINDINGS") or next((v for k, v in secs.items() if k.startswith("FINDING") and v), "")
    impression = secs.get("IMPRESSION") or next((v for k, v in secs.items()
                                                 if k.startswith(("IMPRESSION", "CONCLUSION")) and v), "")
    return findings, impression


def report_answer(findings: str, impression: str) -> tuple[str, str] | None:
    """The target text and where it came from: findings, or the impression when there are no findings."""
    if findings:
        return findings, "findings"
    if impression:
        return impression, "impression"
    return None


def report_record(id: str, images: list[str], answer: str, meta: dict) -> dict:
    return vqa_record(id, images if len(images) > 1 else images[0], INSTRUCTION, answer,
                      {**meta, "answer_type": "REPORT", "answer": answer})


def r2gen(ctx: Context, path: Path, source: str):
    """R2Gen's preprocessed `annotation.json` (https://github.com/cuhksz-nlp/R2Gen): {"train"|"val"|"test":
    [{"id", "report", "image_path": [paths relative to images/], "split", ...}]}; the report is its
    cleaned findings section."""
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise MedMLLMError(f"{path}: expected R2Gen's {{split: [records]}} annotation")
    images = ctx.media_dir(path.parent / "images", path.parent)
    for split in ctx.splits(data, path):
        for i, r in enumerate(data[split]):
            where = f"{path.name}: {split} record {i} (id {r.get('id', '?') if isinstance(r, dict) else '?'})"
            if not isinstance(r, dict) or not r.get("id") or not isinstance(r.get("image_path"), list):
                yield MedMLLMError(f"{where}: needs 'id' and an 'image_path' list")
                continue
            report = clean(r.get("report"))
            if not report or not r["image_path"]:
                yield FILTERED
                continue
            files = [images / p for p in r["image_path"]]
            missing = next((p for p in files if not p.is_file()), None)
            if missing is not None:
                yield MedMLLMError(f"{where}: image '{missing.relative_to(images)}' not found in {images}")
                continue
            meta = {"source": source, "split": split, "report_id": r["id"], "image_path": r["image_path"],
                    "answer_from": "r2gen_report"}
            for key in ("study_id", "subject_id"):
                if key in r:
                    meta[key] = r[key]
            yield report_record(f"{source}-{split}-{r['id']}", [ctx.rel(p) for p in files], report, meta)
