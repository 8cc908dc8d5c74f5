"""VQA-RAD, SLAKE, PathVQA (pickle and parquet) and PMC-VQA: exact records from tiny official-layout fixtures."""


def _q(rec):
    return rec["conversations"][0]["value"], rec["conversations"][1]["value"]


def test_vqa_rad(convert_one):
    stats, recs, out = convert_one("vqa-rad")
    assert stats["splits"] == {"train": 2, "test": 2} and stats["skipped"] == 0
    assert [r["id"] for r in recs] == ["vqa-rad-0001", "vqa-rad-0002", "vqa-rad-0003", "vqa-rad-0004"]
    assert _q(recs[0]) == ("<image>\nIs there a pneumothorax?", "no")
    assert recs[0]["image"] == "../src/VQA_RAD/VQA_RAD Image Folder/synpic100.jpg"
    assert recs[2]["meta"] == {"source": "vqa-rad", "split": "test", "answer_type": "CLOSED", "qid": "0003",
                               "image_name": "synpic200.jpg", "answer": "2", "question_type": "COUNT",
                               "phrase_type": "test_freeform", "image_organ": "HEAD"}
    assert _q(recs[2])[1] == "2"  # numeric answers become text
    assert [r["meta"]["answer_type"] for r in recs] == ["CLOSED", "OPEN", "CLOSED", "OPEN"]


def test_vqa_rad_one_split(convert_one):
    stats, recs, _ = convert_one("vqa-rad", split="test")
    assert stats["splits"] == {"test": 2} and {r["meta"]["phrase_type"] for r in recs} == {"test_freeform", "test_para"}


def test_slake_english_by_default_and_all(convert_one):
    stats, recs, _ = convert_one("slake")
    assert stats["splits"] == {"train": 2, "validate": 1, "test": 1}
    assert {r["meta"]["q_lang"] for r in recs} == {"en"}
    first = recs[0]
    assert first["id"] == "slake-train-0" and _q(first) == ("<image>\nWhich organ is abnormal?", "Lung")
    assert first["image"].endswith("Slake1.0/imgs/xmlab1/source.jpg")
    assert first["meta"] == {"source": "slake", "split": "train", "answer_type": "OPEN", "qid": 0, "img_id": 1,
                             "img_name": "xmlab1/source.jpg", "answer": "Lung", "q_lang": "en",
                             "content_type": "Organ", "base_type": "vqa", "location": "Lung", "modality": "CT"}
    assert recs[1]["meta"]["answer_type"] == "CLOSED" and _q(recs[1])[1] == "No"
    stats, recs, _ = convert_one("slake", lang="all")
    assert stats["records"] == 6 and _q(recs[1]) == ("<image>\n哪个器官不正常？", "肺")


def test_pathvqa_pickles(convert_one):
    stats, recs, _ = convert_one("pathvqa")
    assert stats["splits"] == {"train": 2, "val": 1, "test": 1}
    assert _q(recs[0]) == ("<image>\nDoes this image show necrosis?", "yes")
    assert recs[0]["meta"] == {"source": "pathvqa", "split": "train", "answer_type": "CLOSED", "image": "train_0000",
                               "index": 0, "answer": "yes"}
    assert recs[1]["meta"]["answer_type"] == "OPEN" and recs[1]["image"].endswith("pvqa/images/train/train_0001.jpg")


def test_pathvqa_parquet_writes_images(convert_one):
    stats, recs, out = convert_one("pathvqa-parquet", "pathvqa")
    assert stats["splits"] == {"test": 1, "train": 2, "validation": 1}
    train = [r for r in recs if r["meta"]["split"] == "train"]
    assert _q(train[1]) == ("<image>\nWhat is shown?", "adenocarcinoma")
    assert train[1]["image"] == "pathvqa-parquet_images/train_000001.png" and train[1]["meta"]["answer_type"] == "OPEN"
    assert (out.parent / train[1]["image"]).read_bytes()[:4] == b"\x89PNG"


def test_pmc_vqa(convert_one):
    stats, recs, _ = convert_one("pmc-vqa")
    assert stats["splits"] == {"train": 2, "test_clean": 1}
    assert _q(recs[0]) == ("<image>\nWhat is the uptake pattern in the breast?\nA: Diffuse uptake pattern\n"
                           "B: Focal uptake pattern\nC: No uptake pattern\nD: Cannot determine from the information given"
                           "\nAnswer with the option's letter.", "B")
    assert recs[0]["meta"] == {"source": "pmc-vqa", "split": "train", "answer_type": "CHOICE",
                               "figure_path": "PMC1064097_F1.jpg", "index": 0,
                               "choices": {"A": "Diffuse uptake pattern", "B": "Focal uptake pattern",
                                           "C": "No uptake pattern", "D": "Cannot determine from the information given"},
                               "answer_label": "B", "answer": "B", "answer_text": "Focal uptake pattern"}
    assert recs[2]["meta"]["split"] == "test_clean" and _q(recs[2])[1] == "A"


def test_pmc_vqa_letter_from_answer_text(tmp_path, build):
    """Files without Answer_label (the early `Anwser` spelling): the letter is the choice equal to the answer."""
    import csv
    from medmllm.data.formats import convert

    src = build["pmc-vqa"](tmp_path)
    rows = list(csv.DictReader(open(src / "train.csv")))
    with open(src / "train.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k if k != "Answer" else "Anwser" for k in rows[0] if k != "Answer_label"])
        w.writeheader()
        w.writerows({("Anwser" if k == "Answer" else k): v for k, v in r.items() if k != "Answer_label"} for r in rows)
    stats = convert("pmc-vqa", src, tmp_path / "m.jsonl", split="train")
    assert stats["records"] == 2
    import json
    assert [json.loads(line)["meta"]["answer"] for line in open(tmp_path / "m.jsonl")] == ["B", "C"]
