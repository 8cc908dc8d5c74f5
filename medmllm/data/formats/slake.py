"""SLAKE (Liu et al. 2021), https://www.med-vqa.com/slake/ (also the HF mirror BoKelvin/SLAKE).

Layout: `Slake1.0/{train,validate,test}.json`, each a list of dicts `qid`, `img_id`,
`img_name` ("xmlab102/source.jpg"), `question`, `answer`, `q_lang` (en/zh), `answer_type`
(OPEN/CLOSED), `content_type`, `base_type`, `location`, `modality`; images in
`Slake1.0/imgs/xmlab<N>/source.jpg`. Split names are the file names (train, validate, test).
`lang`: "en" (default, the usual English benchmark), "zh", or "all". SRC: `Slake1.0/` or one JSON.
"""
from __future__ import annotations

from ...errors import MedMLLMError
from . import FORMATS, Context, read_json, vqa_record

SPLITS = ("train", "validate", "test")


@FORMATS.register("slake")
def slake(ctx: Context):
    src = ctx.src
    if src.is_file():
        files = {src.stem: src}
        root = src.parent
    else:
        root = src / "Slake1.0" if (src / "Slake1.0").is_dir() else src
        files = {s: root / f"{s}.json" for s in SPLITS if (root / f"{s}.json").is_file()}
        if not files:
            raise MedMLLMError(f"{src}: no SLAKE JSON found (expected Slake1.0/train.json, validate.json, test.json)")
    images = ctx.media_dir(root / "imgs", root)
    for split in ctx.splits(files, root):
        path = files[split]
        data = read_json(path)
        if not isinstance(data, list):
            raise MedMLLMError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
        for i, q in enumerate(data):
            where = f"{path.name}: record {i}"
            if not isinstance(q, dict):
                yield MedMLLMError(f"{where}: not a JSON object")
                continue
            if ctx.lang != "all" and q.get("q_lang", "en") != ctx.lang:
                continue
            where += f" (qid {q.get('qid', '?')})"
            missing = [k for k in ("qid", "img_name", "question", "answer") if q.get(k) in (None, "")]
            if missing:
                yield MedMLLMError(f"{where}: missing {', '.join(missing)}")
                continue
            image = images / q["img_name"]
            if not image.is_file():
                yield MedMLLMError(f"{where}: image '{q['img_name']}' not found in {images}")
                continue
            answer = str(q["answer"]).strip()
            meta = {"source": "slake", "split": split, "answer_type": str(q.get("answer_type", "")).strip().upper(),
                    "qid": q["qid"], "img_id": q.get("img_id"), "img_name": q["img_name"], "answer": answer,
                    "q_lang": q.get("q_lang"), "content_type": q.get("content_type"),
                    "base_type": q.get("base_type"), "location": q.get("location"), "modality": q.get("modality")}
            yield vqa_record(f"slake-{split}-{q['qid']}", ctx.rel(image), str(q["question"]).strip(), answer, meta)
