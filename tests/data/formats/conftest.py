"""Tiny fixtures in each benchmark's official layout (3-6 records), built from the documented schemas.

`build[name](folder)` writes one and returns the SRC path to give `convert`.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest


def _img(path: Path, value: int = 100, size=(24, 20), mode="L") -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, value // 2, 30)).save(path)
    return path


def _csv(path: Path, rows: list[dict], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(buf.getvalue())
    else:
        path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def vqa_rad(d: Path) -> Path:
    root = d / "VQA_RAD"
    qs = [
        {"qid": "0001", "image_name": "synpic100.jpg", "image_organ": "CHEST", "question": "Is there a pneumothorax?",
         "answer": "no", "answer_type": "CLOSED", "question_type": "PRES", "phrase_type": "freeform",
         "qid_linked_id": "0001", "evaluation": "given"},
        {"qid": "0002", "image_name": "synpic100.jpg", "image_organ": "CHEST", "question": "What organ is shown?",
         "answer": "lungs", "answer_type": "OPEN", "question_type": "ORGAN", "phrase_type": "para"},
        {"qid": "0003", "image_name": "synpic200.jpg", "image_organ": "HEAD", "question": "How many lesions?",
         "answer": 2, "answer_type": "CLOSED ", "question_type": "COUNT", "phrase_type": "test_freeform"},
        {"qid": "0004", "image_name": "synpic200.jpg", "image_organ": "HEAD", "question": "Where is the mass?",
         "answer": "left frontal lobe", "answer_type": "OPEN", "question_type": "POS", "phrase_type": "test_para"},
    ]
    root.mkdir(parents=True)
    (root / "VQA_RAD Dataset Public.json").write_text(json.dumps(qs, indent=1))
    for name in ("synpic100.jpg", "synpic200.jpg"):
        _img(root / "VQA_RAD Image Folder" / name, mode="RGB")
    return root


def slake(d: Path) -> Path:
    root = d / "Slake1.0"

    def q(qid, img, question, answer, lang="en", atype="OPEN", content="Organ"):
        return {"img_id": int(img), "img_name": f"xmlab{img}/source.jpg", "question": question, "answer": answer,
                "q_lang": lang, "location": "Lung", "modality": "CT", "answer_type": atype, "base_type": "vqa",
                "content_type": content, "triple": ["vhead", "_", "_"], "qid": qid}

    data = {"train": [q(0, 1, "Which organ is abnormal?", "Lung"), q(1, 1, "哪个器官不正常？", "肺", lang="zh"),
                      q(2, 1, "Is the lung healthy?", "No", atype="CLOSED", content="Abnormality")],
            "validate": [q(10, 2, "What modality is used?", "CT", content="Modality")],
            "test": [q(20, 3, "Does the picture contain liver?", "Yes", atype="CLOSED"),
                     q(21, 3, "图中包含肝脏吗？", "是", lang="zh", atype="CLOSED")]}
    root.mkdir(parents=True)
    for split, qs in data.items():
        (root / f"{split}.json").write_text(json.dumps(qs, ensure_ascii=False))
    for n in (1, 2, 3):
        _img(root / "imgs" / f"xmlab{n}" / "source.jpg", mode="RGB")
    return root


def pathvqa(d: Path) -> Path:
    root = d / "pvqa"
    data = {"train": [{"image": "train_0000", "question": "Does this image show necrosis?", "answer": "yes"},
                      {"image": "train_0001", "question": "What have lost their nuclei?", "answer": "neutrophils"}],
            "val": [{"image": "val_0000", "question": "Is the liver fibrotic?", "answer": "no"}],
            "test": [{"image": "test_0000", "question": "What is present?", "answer": "granuloma"}]}
    for split, qs in data.items():
        path = root / "qas" / split / f"{split}_qa.pkl"
        path.parent.mkdir(parents=True)
        path.write_bytes(pickle.dumps(qs))
        for q in qs:
            _img(root / "images" / split / f"{q['image']}.jpg", mode="RGB")
    return root


def pathvqa_parquet(d: Path) -> Path:
    pa = pytest.importorskip("pyarrow", reason="the PathVQA parquet release needs pyarrow")
    import pyarrow.parquet as pq
    from PIL import Image

    root = d / "path-vqa" / "data"
    root.mkdir(parents=True)

    def png_bytes(v):
        buf = io.BytesIO()
        Image.new("RGB", (16, 16), (v, 0, 0)).save(buf, format="PNG")
        return buf.getvalue()

    data = {"train": [("Is this tissue benign?", "yes"), ("What is shown?", "adenocarcinoma")],
            "validation": [("Are there mitoses?", "no")], "test": [("Which organ is this?", "kidney")]}
    for split, rows in data.items():
        table = pa.table({"image": [{"bytes": png_bytes(10 * i), "path": None} for i in range(len(rows))],
                          "question": [q for q, _ in rows], "answer": [a for _, a in rows]})
        pq.write_table(table, root / f"{split}-00000-of-00001.parquet")
    return root.parent


def pmc_vqa(d: Path) -> Path:
    root = d / "PMC-VQA"

    def row(fig, question, answer, label, choices):
        return {"Figure_path": fig, "Question": question, "Answer": answer,
                **{f"Choice {x}": f"{x}:{c}" for x, c in zip("ABCD", choices)}, "Answer_label": label}

    _csv(root / "train.csv", [
        row("PMC1064097_F1.jpg", "What is the uptake pattern in the breast?", "Focal uptake pattern", "B",
            ["Diffuse uptake pattern", "Focal uptake pattern", "No uptake pattern",
             "Cannot determine from the information given"]),
        row("PMC1064097_F2.jpg", "Which imaging modality was used?", "MRI", "C", ["CT", "PET", "MRI", "X-ray"])])
    _csv(root / "test_clean.csv", [
        row("PMC2000001_F1.jpg", "Where is the lesion?", "Left lobe", "A", ["Left lobe", "Right lobe", "Both", "None"])])
    for name in ("PMC1064097_F1.jpg", "PMC1064097_F2.jpg", "PMC2000001_F1.jpg"):
        _img(root / "images" / name, mode="RGB")
    return root


MIMIC_REPORTS = {
    "s50000001": """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough.

 FINDINGS:

 There is no focal consolidation, pleural effusion or pneumothorax.  The
 cardiomediastinal silhouette is normal.

 IMPRESSION:

 No acute cardiopulmonary process.
""",
    "s50000002": """                                 FINAL REPORT
 INDICATION:  Shortness of breath.

 IMPRESSION:  Small left pleural effusion.
""",
    "s50000003": """                                 FINAL REPORT
 WET READ: ___ 3:00 PM  no change.
""",
}


def mimic_cxr(d: Path) -> Path:
    root = d / "mimic-cxr-jpg"
    rows = [("d1", "50000001", "10000032", "train", "PA"), ("d2", "50000001", "10000032", "train", "LATERAL"),
            ("d3", "50000002", "11000011", "validate", "AP"), ("d4", "50000003", "12000022", "test", "PA")]
    _csv(root / "mimic-cxr-2.0.0-split.csv.gz",
         [{"dicom_id": r[0], "study_id": r[1], "subject_id": r[2], "split": r[3]} for r in rows], gz=True)
    _csv(root / "mimic-cxr-2.0.0-metadata.csv.gz",
         [{"dicom_id": r[0], "subject_id": r[2], "study_id": r[1], "PerformedProcedureStepDescription": "CHEST",
           "ViewPosition": r[4], "Rows": 20, "Columns": 24} for r in rows], gz=True)
    for dicom, study, subject, _, _ in rows:
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}"
        _img(folder / f"s{study}" / f"{dicom}.jpg")
        (folder / f"s{study}.txt").write_text(MIMIC_REPORTS[f"s{study}"])
    return root


IU_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR{n}"/>
  <MedlineCitation Owner="Indiana University" Status="supplied">
    <Article PubModel="Electronic">
      <Abstract>
        <AbstractText Label="COMPARISON">None.</AbstractText>
        <AbstractText Label="INDICATION">Positive TB test</AbstractText>
        <AbstractText Label="FINDINGS">{findings}</AbstractText>
        <AbstractText Label="IMPRESSION">{impression}</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  {images}
</eCitation>
"""


def iu_xray(d: Path) -> Path:
    root = d / "openi"
    reports = [(1, "The cardiac silhouette and mediastinum size are within normal limits.\n   No pneumothorax.",
                "Normal chest x-XXXX.", ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]),
               (2, "", "No active disease.", ["CXR2_IM-0652-1001"]),
               (3, "Heart size normal.", "", []),  # no images: left out
               (4, "", "", ["CXR4_IM-2050-1001"])]  # no text: left out
    (root / "ecgen-radiology").mkdir(parents=True)
    for n, findings, impression, ids in reports:
        images = "\n  ".join(f'<parentImage id="{i}"><figureId>F1</figureId><url>/x/{i}.jpg</url></parentImage>'
                             for i in ids)
        (root / "ecgen-radiology" / f"{n}.xml").write_text(
            IU_XML.format(n=n, findings=findings, impression=impression, images=images))
        for i in ids:
            _img(root / "NLMCXR_png" / f"{i}.png")
    return root


def r2gen_iu(d: Path) -> Path:
    root = d / "iu_xray"
    ann = {"train": [{"id": "CXR2384_IM-0942", "report": "The heart size and pulmonary vascularity appear normal.",
                      "image_path": ["CXR2384_IM-0942/0.png", "CXR2384_IM-0942/1.png"], "split": "train"}],
           "val": [{"id": "CXR2926_IM-1328", "report": "Lungs are clear.",
                    "image_path": ["CXR2926_IM-1328/0.png", "CXR2926_IM-1328/1.png"], "split": "val"}],
           "test": [{"id": "CXR1000_IM-0003", "report": "No acute disease.",
                     "image_path": ["CXR1000_IM-0003/0.png", "CXR1000_IM-0003/1.png"], "split": "test"}]}
    root.mkdir(parents=True)
    (root / "annotation.json").write_text(json.dumps(ann))
    for recs in ann.values():
        for r in recs:
            for p in r["image_path"]:
                _img(root / "images" / p)
    return root


def roco(d: Path) -> Path:
    root = d / "roco-dataset"
    data = {"train": [("ROCO_00002", "PMC4083729", "AMJCR0005-0259-g001.jpg",
                       " Computed tomography scan in axial view showing obliteration of the left maxillary sinus"),
                      ("ROCO_00003", "PMC2837471", "1752-1947-4-65-3.jpg", "Chest X-ray showing a right hilar mass.")],
            "validation": [("ROCO_10001", "PMC3000001", "f1.jpg", "MRI of the knee.")],
            "test": [("ROCO_20001", "PMC4000001", "g2.jpg", "Ultrasound of the liver.")]}
    for split, rows in data.items():
        folder = root / "data" / split / "radiology"
        folder.mkdir(parents=True)
        (folder / "captions.txt").write_text("".join(f"{i}\t{c}\n" for i, _, _, c in rows))
        (folder / "dlinks.txt").write_text("".join(
            f"{i}\twget -r ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_package/aa/bb/{p}.tar.gz -P /path/to/Dir\t{n}\n"
            for i, p, n, _ in rows))
        for _, p, n, _ in rows:
            _img(folder / "images" / f"{p}_{n}", mode="RGB")
    return root


def llava_med(d: Path) -> Path:
    root = d / "llava_med"
    align = [{"id": "PMC1_F1", "image": "PMC1_F1.jpg", "conversations": [
                 {"from": "human", "value": "<image>\nDescribe the image concisely."},
                 {"from": "gpt", "value": "Axial CT of the abdomen."}]},
             {"id": "PMC2_F3", "image": "PMC2_F3.jpg", "conversations": [
                 {"from": "human", "value": "Provide a brief description of the given image.\n<image>"},
                 {"from": "gpt", "value": "Chest radiograph with bilateral infiltrates."}]}]
    instruct = [{"id": "12345", "image": "PMC1_F1.jpg", "conversations": [
                    {"from": "human", "value": "What is shown in the image?"},
                    {"from": "gpt", "value": "A CT scan of the abdomen."},
                    {"from": "human", "value": "Any abnormality?"},
                    {"from": "gpt", "value": "A hypodense liver lesion."}]}]
    root.mkdir(parents=True)
    (root / "llava_med_alignment_500k.json").write_text(json.dumps(align))
    (root / "llava_med_instruct_60k.json").write_text(json.dumps(instruct))
    for name in ("PMC1_F1.jpg", "PMC2_F3.jpg"):
        _img(root / "images" / name, mode="RGB")
    return root


def _vol(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.random.default_rng(0).random((1, 8, 32, 32), dtype=np.float32))


def m3d_cap(d: Path) -> Path:
    root = d / "M3D"
    cases = {"train": ["ct_quizze/000001/Axial_C__portal_venous_phase", "ct_quizze/000002/Axial_non_contrast"],
             "validation": ["ct_quizze/000003/Coronal"], "test": ["ct_case/000004/Axial"]}
    ann = {}
    for split, names in cases.items():
        ann[split] = []
        for k, name in enumerate(names):
            image, text = f"M3D_Cap_npy/{name}/0.npy", f"M3D_Cap_npy/{name}/text.txt"
            _vol(root / image)
            (root / text).write_text(f"Case {split} {k}: hypodense lesion in the liver.\n")
            ann[split].append({"image": image, "text": text})
    (root / "M3D_Cap_npy").mkdir(parents=True, exist_ok=True)
    (root / "M3D_Cap_npy" / "M3D_Cap.json").write_text(json.dumps(ann))
    return root / "M3D_Cap_npy"


def m3d_vqa(d: Path) -> Path:
    root = d / "M3D"

    def row(img, qtype, q, choices, letter):
        return {"Image Path": img, "Text": "Findings text.", "Question Type": qtype, "Question": q,
                **{f"Choice {x}": c for x, c in zip("ABCD", choices)}, "Answer": choices["ABCD".index(letter)],
                "Answer Choice": letter}

    data = {"train": [row("M3D_Cap_npy/ct_case/000001/Axial/0.npy", 1, "In which plane is the image scanned?",
                          ["Axial", "Coronal", "Sagittal", "Oblique"], "A"),
                      row("M3D_Cap_npy/ct_case/000001/Axial/0.npy", 3, "Which organ is abnormal?",
                          ["Liver", "Spleen", "Kidney", "Pancreas"], "C")],
            "val": [row("M3D_Cap_npy/ct_case/000002/Axial/0.npy", 2, "What CT phase is this?",
                        ["Non-contrast", "Arterial", "Portal venous", "Delayed"], "B")],
            "test": [row("M3D_Cap_npy/ct_case/000003/Axial/0.npy", 4, "What is the abnormality?",
                         ["Cyst", "Stone", "Mass", "Fracture"], "D")]}
    for split, rows in data.items():
        _csv(root / "M3D-VQA" / f"M3D_VQA_{split}.csv", rows)
        for r in rows:
            if not (root / r["Image Path"]).exists():
                _vol(root / r["Image Path"])
    return root / "M3D-VQA"


BUILDERS = {"vqa-rad": vqa_rad, "slake": slake, "pathvqa": pathvqa, "pathvqa-parquet": pathvqa_parquet,
            "pmc-vqa": pmc_vqa, "mimic-cxr": mimic_cxr, "iu-xray": iu_xray, "iu-xray-r2gen": r2gen_iu, "roco": roco,
            "llava-med": llava_med, "m3d-cap": m3d_cap, "m3d-vqa": m3d_vqa}


@pytest.fixture
def build():
    """name -> builder(folder) -> SRC (names are the format names, plus pathvqa-parquet and iu-xray-r2gen)."""
    return BUILDERS


@pytest.fixture
def convert_one(tmp_path):
    """Build a fixture, convert it, and return (stats, records, manifest path); every record is checked."""
    from medmllm.data.formats import convert
    from medmllm.chat import normalize_record
    from medmllm.data.records import check_record

    calls = []

    def run(name, fmt=None, **kw):
        calls.append(name)
        base = tmp_path if len(calls) == 1 else tmp_path / f"run{len(calls)}"
        src = BUILDERS[name](base / "src")
        out = base / "out" / f"{name}.jsonl"
        stats = convert(fmt or name, src, out, **kw)
        records = [json.loads(line) for line in out.read_text().splitlines()]
        for rec in records:
            assert check_record(normalize_record(rec), out.parent) is None, rec
        assert stats["records"] == len(records)
        return stats, records, out

    return run
