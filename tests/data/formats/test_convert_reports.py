"""MIMIC-CXR-JPG, IU X-ray (Open-i XML and R2Gen), ROCO and LLaVA-Med: exact records."""


def _q(rec):
    return rec["conversations"][0]["value"], rec["conversations"][1]["value"]


def test_mimic_cxr_frontal_findings_then_impression(convert_one):
    stats, recs, _ = convert_one("mimic-cxr")
    # d2 is lateral, d4's report has neither findings nor impression: both left out, not errors
    assert stats["splits"] == {"train": 1, "validate": 1} and stats["filtered"] == 2 and stats["skipped"] == 0
    a, b = recs
    assert a["id"] == "mimic-cxr-d1" and a["image"].endswith("files/p10/p10000032/s50000001/d1.jpg")
    assert _q(a) == ("<image>\nDescribe the findings of this chest X-ray.",
                     "There is no focal consolidation, pleural effusion or pneumothorax. The cardiomediastinal "
                     "silhouette is normal.")
    assert a["meta"] == {"source": "mimic-cxr", "split": "train", "dicom_id": "d1", "study_id": "50000001",
                         "subject_id": "10000032", "view_position": "PA",
                         "findings": _q(a)[1], "impression": "No acute cardiopulmonary process.",
                         "answer_from": "findings", "answer_type": "REPORT", "answer": _q(a)[1]}
    assert _q(b)[1] == "Small left pleural effusion." and b["meta"]["answer_from"] == "impression"
    assert b["meta"]["view_position"] == "AP"


def test_iu_xray_openi(convert_one):
    stats, recs, _ = convert_one("iu-xray")
    assert stats["splits"] == {"all": 2} and stats["filtered"] == 2
    a, b = recs
    assert a["image"] == ["../src/openi/NLMCXR_png/CXR1_1_IM-0001-3001.png",
                          "../src/openi/NLMCXR_png/CXR1_1_IM-0001-4001.png"]
    assert _q(a) == ("<image>\n<image>\nDescribe the findings of this chest X-ray.",
                     "The cardiac silhouette and mediastinum size are within normal limits. No pneumothorax.")
    assert a["meta"] == {"source": "iu-xray", "split": "all", "report": "1.xml", "uid": "CXR1",
                         "image_ids": ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"], "findings": _q(a)[1],
                         "impression": "Normal chest x-XXXX.", "answer_from": "findings", "answer_type": "REPORT",
                         "answer": _q(a)[1]}
    assert b["image"].endswith("CXR2_IM-0652-1001.png") and _q(b)[1] == "No active disease."
    assert b["meta"]["answer_from"] == "impression"


def test_iu_xray_r2gen_annotation(convert_one):
    stats, recs, _ = convert_one("iu-xray-r2gen", "iu-xray")
    assert stats["splits"] == {"train": 1, "val": 1, "test": 1}
    assert recs[0]["id"] == "iu-xray-train-CXR2384_IM-0942" and len(recs[0]["image"]) == 2
    assert recs[0]["image"][0].endswith("iu_xray/images/CXR2384_IM-0942/0.png")
    assert _q(recs[0])[1] == "The heart size and pulmonary vascularity appear normal."
    assert recs[0]["meta"]["answer_from"] == "r2gen_report" and recs[0]["meta"]["answer_type"] == "REPORT"


def test_roco(convert_one):
    stats, recs, _ = convert_one("roco")
    assert stats["splits"] == {"train": 2, "validation": 1, "test": 1}
    assert _q(recs[0]) == ("<image>\nDescribe this image.",
                           "Computed tomography scan in axial view showing obliteration of the left maxillary sinus")
    assert recs[0]["image"].endswith("data/train/radiology/images/PMC4083729_AMJCR0005-0259-g001.jpg")
    assert recs[0]["meta"] == {"source": "roco", "split": "train", "answer_type": "CAPTION", "roco_id": "ROCO_00002",
                               "image_name": "PMC4083729_AMJCR0005-0259-g001.jpg", "answer": _q(recs[0])[1]}


def test_llava_med(convert_one):
    stats, recs, _ = convert_one("llava-med")
    assert stats["splits"] == {"train": 3}
    assert recs[0]["conversations"][0]["value"] == "<image>\nDescribe the image concisely."
    assert recs[1]["conversations"][0]["value"] == "Provide a brief description of the given image.\n<image>"
    multi = recs[2]
    assert multi["conversations"][0]["value"] == "<image>\nWhat is shown in the image?"  # placeholder added
    assert len(multi["conversations"]) == 4 and multi["image"].endswith("llava_med/images/PMC1_F1.jpg")
    assert multi["meta"] == {"source": "llava-med", "split": "train", "answer_type": "OPEN", "orig_id": "12345",
                             "file": "llava_med_instruct_60k.json", "image_name": "PMC1_F1.jpg",
                             "answer": "A CT scan of the abdomen."}
    assert recs[0]["meta"]["answer_type"] == "CAPTION"
