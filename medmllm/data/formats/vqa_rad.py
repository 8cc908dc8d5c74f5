"""VQA-RAD (Lau et al. 2018), the OSF release https://osf.io/89kps/.

Layout: `VQA_RAD Dataset Public.json` (a list of QA dicts: `qid`, `image_name`, `image_organ`,
`question`, `answer`, `answer_type` CLOSED/OPEN, `question_type`, `phrase_type`, ...) next to
`VQA_RAD Image Folder/<image_name>` (synpicNNNN.jpg). There is no split file: the test set is the
questions whose `phrase_type` is `test_freeform` / `test_para` (451 of them), the rest is train,
as in the MedVInT / LLaVA-Med evaluations. SRC: the JSON or the folder holding it.
"""
from __future__ import annotations

from ...errors import MedMLLMError
from . import FORMATS, Context, find_file, read_json, vqa_record

JSON_NAME = "VQA_RAD Dataset Public.json"


@FORMATS.register("vqa-rad")
def vqa_rad(ctx: Context):
    path = find_file(ctx.src, [JSON_NAME, "VQA_RAD Dataset Public*.json"], "VQA-RAD JSON", deep=True)
    data = read_json(path)
    if not isinstance(data, list):
        raise MedMLLMError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
    images = ctx.media_dir(path.parent / "VQA_RAD Image Folder", path.parent / "images", path.parent)

    def split_of(q) -> str:
        return "test" if str(q.get("phrase_type", "") if isinstance(q, dict) else "").startswith("test") else "train"

    wanted = set(ctx.splits(sorted({split_of(q) for q in data}, reverse=True), path))
    for i, q in enumerate(data):
        where = f"{path.name}: record {i}"
        if not isinstance(q, dict):
            yield MedMLLMError(f"{where}: not a JSON object")
            continue
        split = split_of(q)
        if split not in wanted:
            continue
        where += f" (qid {q.get('qid', '?')})"
        missing = [k for k in ("qid", "image_name", "question", "answer") if q.get(k) in (None, "")]
        if missing:
            yield MedMLLMError(f"{where}: missing {', '.join(missing)}")
            continue
        image = images / str(q["image_name"])
        if not image.is_file():
            yield MedMLLMError(f"{where}: image '{q['image_name']}' not found in {images}")
            continue
        answer = str(q["answer"]).strip()
        meta = {"source": "vqa-rad", "split": split, "answer_type": str(q.get("answer_type", "")).strip().upper(),
                "qid": q["qid"], "image_name": q["image_name"], "answer": answer,
                "question_type": str(q.get("question_type", "")).strip(), "phrase_type": q.get("phrase_type"),
                "image_organ": q.get("image_organ")}
        yield vqa_record(f"vqa-rad-{q['qid']}", ctx.rel(image), str(q["question"]).strip(), answer, meta)
