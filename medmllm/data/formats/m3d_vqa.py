"""M3D-VQA (Bai et al. 2024, M3D-Data), https://huggingface.co/datasets/GoodBaiBai88/M3D-VQA.

Layout: `M3D_VQA_{train,val,test}.csv` (also `M3D_VQA_test5k.csv`) with columns `Image Path` (a .npy
volume relative to the data root, as read by `VQADataset` in `LaMed/src/dataset/multi_dataset.py`,
https://github.com/BAAI-DCAI/M3D), `Text`, `Question Type`, `Question`, `Choice A`..`Choice D`,
`Answer`, `Answer Choice`. M3D scores both settings, so every row gives two records: a multiple-choice
one (CHOICE, the answer is the letter) and an open one (OPEN, the answer text). Split names are the
CSV stems after `M3D_VQA_`. The data root is `--images`, else the CSV's folder or its parent, whichever
holds the first volume. SRC: a CSV or the folder holding them.
"""
from __future__ import annotations

from ...errors import MedMLLMError
from . import FORMATS, Context, choice_prompt, read_csv, vqa_record

COLUMNS = ["Image Path", "Question Type", "Question", "Choice A", "Choice B", "Choice C", "Choice D", "Answer",
           "Answer Choice"]


@FORMATS.register("m3d-vqa")
def m3d_vqa(ctx: Context):
    src = ctx.src
    found = [src] if src.is_file() else sorted(src.glob("M3D_VQA_*.csv")) or sorted(src.glob("*/M3D_VQA_*.csv"))
    if not found:
        raise MedMLLMError(f"{src}: no M3D-VQA CSV found (expected M3D_VQA_train.csv, M3D_VQA_val.csv, "
                           "M3D_VQA_test.csv)")
    files = {p.stem.removeprefix("M3D_VQA_"): p for p in found}
    for split in ctx.splits(files, src):
        path = files[split]
        rows = read_csv(path, COLUMNS)
        first = rows[0]["Image Path"] if rows else ""
        root = ctx.images or next((d for d in (path.parent, path.parent.parent) if first and (d / first).is_file()),
                                  path.parent)
        for i, row in enumerate(rows):
            where = f"{path.name}: record {i} ({row['Image Path'] or '?'})"
            letter = row["Answer Choice"].strip().upper()
            choices = {x: row[f"Choice {x}"].strip() for x in "ABCD"}
            if not row["Question"].strip() or not row["Answer"].strip() or letter not in choices:
                yield MedMLLMError(f"{where}: empty Question/Answer or Answer Choice {row['Answer Choice']!r} "
                                   "is not A-D")
                continue
            volume = root / row["Image Path"]
            if not volume.is_file():
                yield MedMLLMError(f"{where}: volume '{row['Image Path']}' not found in {root}")
                continue
            answer = row["Answer"].strip()
            meta = {"source": "m3d-vqa", "split": split, "image_path": row["Image Path"], "index": i,
                    "question_type": row["Question Type"], "choices": choices, "answer_choice": letter,
                    "answer_text": answer}
            rel = ctx.rel(volume)
            yield vqa_record(f"m3d-vqa-{split}-{i}-choice", rel, choice_prompt(row["Question"], choices), letter,
                             {**meta, "answer_type": "CHOICE", "answer": letter}, key="volume")
            yield vqa_record(f"m3d-vqa-{split}-{i}-open", rel, row["Question"].strip(), answer,
                             {**meta, "answer_type": "OPEN", "answer": answer}, key="volume")
