"""M3D-Cap and M3D-VQA: 3D records with the `volume` key."""
import numpy as np

from medmllm.data.io import read_volume


def test_m3d_cap(convert_one):
    stats, recs, out = convert_one("m3d-cap")
    assert stats["splits"] == {"train": 2, "validation": 1, "test": 1}
    r = recs[0]
    assert "image" not in r and r["volume"].endswith("M3D/M3D_Cap_npy/ct_quizze/000001/Axial_C__portal_venous_phase/0.npy")
    assert r["conversations"][0]["value"] == "<volume>\nDescribe this image."
    assert r["conversations"][1]["value"] == "Case train 0: hypodense lesion in the liver."
    assert r["meta"] == {"source": "m3d-cap", "split": "train", "answer_type": "CAPTION",
                         "image": "M3D_Cap_npy/ct_quizze/000001/Axial_C__portal_venous_phase/0.npy",
                         "text": "M3D_Cap_npy/ct_quizze/000001/Axial_C__portal_venous_phase/text.txt",
                         "answer": "Case train 0: hypodense lesion in the liver."}
    data, _ = read_volume(out.parent / r["volume"])
    assert data.shape == (8, 32, 32) and np.isfinite(data).all()


def test_m3d_vqa_choice_and_open(convert_one):
    stats, recs, _ = convert_one("m3d-vqa")
    assert stats["splits"] == {"test": 2, "train": 4, "val": 2}
    train = [r for r in recs if r["meta"]["split"] == "train"]
    choice, open_ = train[2], train[3]
    assert choice["id"] == "m3d-vqa-train-1-choice" and open_["id"] == "m3d-vqa-train-1-open"
    assert choice["conversations"][0]["value"] == ("<volume>\nWhich organ is abnormal?\nA: Liver\nB: Spleen\n"
                                                   "C: Kidney\nD: Pancreas\nAnswer with the option's letter.")
    assert choice["conversations"][1]["value"] == "C"
    assert open_["conversations"] == [{"from": "human", "value": "<volume>\nWhich organ is abnormal?"},
                                      {"from": "gpt", "value": "Kidney"}]
    assert choice["meta"] == {"source": "m3d-vqa", "split": "train", "image_path": "M3D_Cap_npy/ct_case/000001/Axial/0.npy",
                              "index": 1, "question_type": "3",
                              "choices": {"A": "Liver", "B": "Spleen", "C": "Kidney", "D": "Pancreas"},
                              "answer_choice": "C", "answer_text": "Kidney", "answer_type": "CHOICE", "answer": "C"}
    assert open_["meta"]["answer_type"] == "OPEN" and open_["meta"]["answer"] == "Kidney"
    assert choice["volume"] == open_["volume"] and choice["volume"].endswith("M3D/M3D_Cap_npy/ct_case/000001/Axial/0.npy")
