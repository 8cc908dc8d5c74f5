"""PathVQA (He et al. 2020), two official releases.

1. The authors' download (https://github.com/UCSD-AI4H/PathVQA, Google Drive `pvqa.zip`):
   `pvqa/qas/{train,val,test}/{split}_qa.pkl`, each a pickled list of dicts `image` ("train_0422"),
   `question`, `answer`; images `pvqa/images/{split}/<image>.jpg`. The LXMERT-style
   `pvqa/qas/{split}_vqa.pkl` (`img_id`, `sent`, `label` {answer: score}, `question_id`) is read too.
2. The Hugging Face parquet release `flaviagiammarino/path-vqa`: `data/{train,validation,test}-*.parquet`
   with columns `image` ({bytes, path}), `question`, `answer`. The image bytes are written as files
   to `<OUT stem>_images/` next to OUT (needs pyarrow).

PathVQA has no answer-type field: yes/no answers are CLOSED, the rest OPEN (the usual convention).
SRC: `pvqa/` (or its parent), a `*_qa.pkl`, a folder of parquet files, or one parquet file.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

from ...errors import MedMLLMError, brief
from . import FORMATS, Context, closed_or_open, vqa_record


class _PlainUnpickler(pickle.Unpickler):
    """The QA pickles hold only lists, dicts, strings and numbers: refuse anything else."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def _load_pickle(path: Path):
    try:
        with open(path, "rb") as f:
            return _PlainUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise MedMLLMError(f"{path}: not a readable PathVQA pickle ({brief(e)})") from None


@FORMATS.register("pathvqa")
def pathvqa(ctx: Context):
    src = ctx.src
    parquet = [src] if src.suffix == ".parquet" else \
        sorted(src.glob("*.parquet")) or sorted(src.glob("data/*.parquet")) if src.is_dir() else []
    if parquet:
        yield from _from_parquet(ctx, parquet)
    else:
        yield from _from_pickles(ctx)


def _from_pickles(ctx: Context):
    src = ctx.src
    if src.is_file():
        files = {src.stem.split("_")[0]: src}
        root = next((p for p in src.parents if (p / "images").is_dir()), src.parent)
    else:
        root = src / "pvqa" if (src / "pvqa").is_dir() else src
        files = {}
        for split in ("train", "val", "test"):
            for cand in (root / "qas" / split / f"{split}_qa.pkl", root / "qas" / f"{split}_vqa.pkl"):
                if cand.is_file():
                    files[split] = cand
                    break
        if not files:
            raise MedMLLMError(f"{src}: no PathVQA data found (expected pvqa/qas/{{train,val,test}}/*_qa.pkl "
                               "or data/*.parquet)")
    for split in ctx.splits(files, src):
        path = files[split]
        data = _load_pickle(path)
        if not isinstance(data, list):
            raise MedMLLMError(f"{path}: expected a pickled list of questions, got {type(data).__name__}")
        images = ctx.media_dir(root / "images" / split, root / "images")
        for i, q in enumerate(data):
            where = f"{path.name}: record {i}"
            if not isinstance(q, dict):
                yield MedMLLMError(f"{where}: not a dict")
                continue
            name = q.get("image", q.get("img_id"))
            question = q.get("question", q.get("sent"))
            answer = q.get("answer")
            if answer is None and isinstance(q.get("label"), dict) and q["label"]:
                answer = max(q["label"], key=q["label"].get)
            missing = [k for k, v in (("image", name), ("question", question), ("answer", answer)) if v in (None, "")]
            if missing:
                yield MedMLLMError(f"{where}: missing {', '.join(missing)}")
                continue
            where += f" (image {name})"
            image = images / (name if Path(str(name)).suffix else f"{name}.jpg")
            if not image.is_file():
                yield MedMLLMError(f"{where}: image '{image.name}' not found in {images}")
                continue
            answer = str(answer).strip()
            meta = {"source": "pathvqa", "split": split, "answer_type": closed_or_open(answer), "image": str(name),
                    "index": i, "answer": answer}
            if "question_id" in q:
                meta["question_id"] = q["question_id"]
            yield vqa_record(f"pathvqa-{split}-{i}", ctx.rel(image), str(question).strip(), answer, meta)


def _from_parquet(ctx: Context, files: list[Path]):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MedMLLMError(f"{files[0]}: reading parquet needs pyarrow (pip install pyarrow)") from None
    by_split: dict[str, list[Path]] = {}
    for f in files:
        by_split.setdefault(re.split(r"[-_.]", f.name, maxsplit=1)[0], []).append(f)
    img_dir = ctx.out.parent / f"{ctx.out.stem}_images"
    for split in ctx.splits(by_split, ctx.src):
        index = 0
        for path in by_split[split]:
            try:
                table = pq.ParquetFile(path)
                names = table.schema_arrow.names
            except Exception as e:  # pyarrow raises several types for a corrupt file
                raise MedMLLMError(f"{path}: not a readable parquet file ({brief(e)})") from None
            missing = [c for c in ("image", "question", "answer") if c not in names]
            if missing:
                raise MedMLLMError(f"{path}: missing column(s) {', '.join(map(repr, missing))} (has {', '.join(names)})")
            for batch in table.iter_batches(batch_size=256, columns=["image", "question", "answer"]):
                for row in batch.to_pylist():
                    i, index = index, index + 1
                    where = f"{path.name}: record {i}"
                    image = row["image"] or {}
                    data = image.get("bytes") if isinstance(image, dict) else None
                    if not data or not row["question"] or row["answer"] in (None, ""):
                        yield MedMLLMError(f"{where}: missing {'image bytes' if not data else 'question or answer'}")
                        continue
                    ext = ".png" if data[:4] == b"\x89PNG" else ".jpg" if data[:2] == b"\xff\xd8" else \
                        (Path(image.get("path") or "x.jpg").suffix or ".jpg")
                    target = img_dir / f"{split}_{i:06d}{ext}"
                    img_dir.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    answer = str(row["answer"]).strip()
                    meta = {"source": "pathvqa", "split": split, "answer_type": closed_or_open(answer),
                            "image": image.get("path"), "index": i, "answer": answer}
                    yield vqa_record(f"pathvqa-{split}-{i}", ctx.rel(target), str(row["question"]).strip(), answer, meta)
