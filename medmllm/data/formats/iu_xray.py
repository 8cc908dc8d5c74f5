"""IU X-ray / Open-i chest X-ray collection (Demner-Fushman et al. 2016), https://openi.nlm.nih.gov/faq.

Layout: `ecgen-radiology/<n>.xml` (from NLMCXR_reports.tgz), each with `<AbstractText Label="FINDINGS">`
and `<AbstractText Label="IMPRESSION">` and one `<parentImage id="CXR1_1_IM-0001-3001">` per image;
images `NLMCXR_png/<id>.png` (NLMCXR_png.tgz). One record per report with all its images (one
`<image>` each). There is no official split: every record is in split `all`. The target is FINDINGS,
or IMPRESSION when there are no findings (`meta.answer_from`); reports with neither, or without
images, are filtered. R2Gen's `iu_xray/annotation.json` + `images/` (https://github.com/cuhksz-nlp/R2Gen,
splits train/val/test) is read as well. SRC: the folder holding `ecgen-radiology/`, or the annotation.json.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from ...errors import MedMLLMError, brief
from . import FILTERED, FORMATS, Context
from ._report import clean, r2gen, report_answer, report_record


@FORMATS.register("iu-xray")
def iu_xray(ctx: Context):
    src = ctx.src
    if src.name == "annotation.json" or (src.is_dir() and (src / "annotation.json").is_file()
                                         and not (src / "ecgen-radiology").is_dir()):
        yield from r2gen(ctx, src if src.is_file() else src / "annotation.json", "iu-xray")
        return
    xml_dir = src if src.name == "ecgen-radiology" else src / "ecgen-radiology"
    files = sorted(xml_dir.glob("*.xml"), key=lambda p: (len(p.stem), p.stem)) if xml_dir.is_dir() else []
    if not files:
        raise MedMLLMError(f"{src}: no IU X-ray reports found (expected ecgen-radiology/*.xml or annotation.json)")
    root = xml_dir.parent
    images = ctx.media_dir(root / "NLMCXR_png", root / "images", root)
    ctx.splits(["all"], src)
    for path in files:
        try:
            tree = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as e:
            yield MedMLLMError(f"{path.name}: not valid XML ({brief(e)})")
            continue
        texts = {a.get("Label", "").upper(): clean("".join(a.itertext())) for a in tree.iter("AbstractText")}
        findings, impression = texts.get("FINDINGS", ""), texts.get("IMPRESSION", "")
        ids = [im.get("id") for im in tree.iter("parentImage") if im.get("id")]
        target = report_answer(findings, impression)
        if target is None or not ids:
            yield FILTERED
            continue
        files_ = [images / f"{i}.png" for i in ids]
        missing = next((p for p in files_ if not p.is_file()), None)
        if missing is not None:
            yield MedMLLMError(f"{path.name}: image '{missing.name}' not found in {images}")
            continue
        uid = next((u.get("id") for u in tree.iter("uId") if u.get("id")), None)
        meta = {"source": "iu-xray", "split": "all", "report": path.name, "uid": uid, "image_ids": ids,
                "findings": findings, "impression": impression, "answer_from": target[1]}
        yield report_record(f"iu-xray-{path.stem}", [ctx.rel(p) for p in files_], target[0], meta)
