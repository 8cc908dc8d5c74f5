"""MIMIC-CXR-JPG v2.0.0 (Johnson et al. 2019), https://physionet.org/content/mimic-cxr-jpg/2.0.0/.

Layout (SRC is the release folder): `mimic-cxr-2.0.0-split.csv.gz` (`dicom_id, study_id, subject_id,
split` with split train/validate/test), `mimic-cxr-2.0.0-metadata.csv.gz` (`dicom_id, ..., ViewPosition`),
images `files/p<first 2 digits>/p<subject_id>/s<study_id>/<dicom_id>.jpg` (`.dcm` from the MIMIC-CXR DICOM
release also works). Reports come from MIMIC-CXR's `mimic-cxr-reports.zip`: `files/pXX/p<subject>/s<study>.txt`,
looked for under `--images`, SRC and SRC/mimic-cxr-reports. Sections are split on capitalised headings like
MIMIC-CXR's `create_section_files.py` (https://github.com/MIT-LCP/mimic-cxr/tree/master/txt); the target is
FINDINGS, or IMPRESSION when a report has no findings (`meta.answer_from` says which); reports with
neither are filtered. Only frontal views (ViewPosition PA or AP) are kept, one record per image; without
the metadata file no view filter is applied. R2Gen's `annotation.json` (+ `images/`) is read as well.
"""
from __future__ import annotations

from ...errors import MedMLLMError
from . import FILTERED, FORMATS, Context, find_file, read_csv
from ._report import findings_impression, r2gen, report_answer, report_record, sections

SPLIT_CSV = "mimic-cxr-2.0.0-split.csv.gz"
META_CSV = "mimic-cxr-2.0.0-metadata.csv.gz"
FRONTAL = ("PA", "AP")


@FORMATS.register("mimic-cxr")
def mimic_cxr(ctx: Context):
    src = ctx.src
    if src.name == "annotation.json" or (src.is_dir() and (src / "annotation.json").is_file()
                                         and not (src / SPLIT_CSV).is_file()):
        yield from r2gen(ctx, src if src.is_file() else src / "annotation.json", "mimic-cxr")
        return
    split_csv = find_file(src, [SPLIT_CSV, "mimic-cxr-2.0.0-split.csv"], "MIMIC-CXR-JPG split file")
    root = split_csv.parent
    rows = read_csv(split_csv, ["dicom_id", "study_id", "subject_id", "split"])
    views: dict[str, str] | None = None
    meta_csv = next((p for p in (root / META_CSV, root / META_CSV[:-3]) if p.is_file()), None)
    if meta_csv is not None:
        views = {r["dicom_id"]: r["ViewPosition"] for r in read_csv(meta_csv, ["dicom_id", "ViewPosition"])}
    images = ctx.media_dir(root)
    report_roots = list(dict.fromkeys([images, root, root / "mimic-cxr-reports"]))
    wanted = set(ctx.splits([r["split"] for r in rows], split_csv))
    cache: tuple[str, tuple | None] = ("", None)
    for i, r in enumerate(rows):
        if r["split"] not in wanted:
            continue
        view = views.get(r["dicom_id"], "") if views is not None else None
        if views is not None and view not in FRONTAL:
            yield FILTERED
            continue
        where = f"{split_csv.name}: record {i} (dicom_id {r['dicom_id']})"
        subject, study = r["subject_id"], r["study_id"]
        folder = f"files/p{subject[:2]}/p{subject}/s{study}"
        image = next((images / folder / f"{r['dicom_id']}{ext}" for ext in (".jpg", ".dcm")
                      if (images / folder / f"{r['dicom_id']}{ext}").is_file()), None)
        if image is None:
            yield MedMLLMError(f"{where}: image '{folder}/{r['dicom_id']}.jpg' not found in {images}")
            continue
        if cache[0] != folder:
            txt = next((p / f"{folder}.txt" for p in report_roots if (p / f"{folder}.txt").is_file()), None)
            if txt is None:
                cache = (folder, None)
            else:
                findings, impression = findings_impression(sections(txt.read_text(encoding="utf-8", errors="replace")))
                cache = (folder, (findings, impression, report_answer(findings, impression)))
        if cache[1] is None:
            yield MedMLLMError(f"{where}: report '{folder}.txt' not found in {', '.join(map(str, report_roots))}")
            continue
        findings, impression, target = cache[1]
        if target is None:
            yield FILTERED
            continue
        meta = {"source": "mimic-cxr", "split": r["split"], "dicom_id": r["dicom_id"], "study_id": study,
                "subject_id": subject, "view_position": view, "findings": findings, "impression": impression,
                "answer_from": target[1]}
        yield report_record(f"mimic-cxr-{r['dicom_id']}", [ctx.rel(image)], target[0], meta)
