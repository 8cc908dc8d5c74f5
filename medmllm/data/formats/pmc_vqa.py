"""PMC-VQA (Zhang et al. 2023), https://huggingface.co/datasets/xmcmic/PMC-VQA.

Layout: `train.csv`, `test.csv`, `test_clean.csv` (and the version-2 `train_2.csv`, `test_2.csv`)
with columns `Figure_path` (an image file name), `Question`, `Answer` (spelled `Anwser` in early
files), `Choice A`..`Choice D` (written "A:Diffuse uptake pattern"), `Answer_label` (the letter),
optionally `Caption`, `split`, `index`; images from `images.zip` in `images/` (`images_2/` for the
version-2 files). Split names are the CSV stems. When `Answer_label` is missing, the letter is the
choice whose text equals the answer. SRC: the folder, or one CSV.
"""
from __future__ import annotations

import re

from ...errors import MedMLLMError
from . import FORMATS, Context, choice_prompt, read_csv, vqa_record

STEMS = ("train", "test", "test_clean", "train_2", "test_2")
LETTERS = "ABCD"
_PREFIX = re.compile(r"^\s*([A-D])\s*[:.]\s*")


def _strip(choice: str) -> str:
    return _PREFIX.sub("", choice, count=1).strip()


@FORMATS.register("pmc-vqa")
def pmc_vqa(ctx: Context):
    src = ctx.src
    files = {src.stem: src} if src.is_file() else {s: src / f"{s}.csv" for s in STEMS if (src / f"{s}.csv").is_file()}
    if not files:
        raise MedMLLMError(f"{src}: no PMC-VQA CSV found (expected train.csv, test.csv or test_clean.csv)")
    root = src.parent if src.is_file() else src
    for split in ctx.splits(files, src):
        path = files[split]
        rows = read_csv(path, ["Figure_path", "Question"] + [f"Choice {x}" for x in LETTERS])
        if rows and "Answer" not in rows[0] and "Anwser" not in rows[0] and "Answer_label" not in rows[0]:
            raise MedMLLMError(f"{path}: missing column 'Answer' (or 'Anwser' / 'Answer_label')")
        images = ctx.media_dir(*([root / "images_2"] if split.endswith("_2") else []), root / "images", root / "figures",
                               root)
        for i, row in enumerate(rows):
            where = f"{path.name}: record {i} (Figure_path {row['Figure_path'] or '?'})"
            choices = {x: _strip(row[f"Choice {x}"]) for x in LETTERS}
            answer = _strip(row.get("Answer", row.get("Anwser", "")))
            letter = row.get("Answer_label", "").strip().upper()
            if not letter:
                m = _PREFIX.match(row.get("Answer", row.get("Anwser", "")))
                letter = m.group(1) if m else next((x for x in LETTERS if choices[x] == answer and answer), "")
            if letter not in choices or not choices[letter]:
                yield MedMLLMError(f"{where}: no answer letter (Answer_label {row.get('Answer_label')!r}, "
                                   f"answer {answer!r})")
                continue
            if not row["Question"].strip() or not row["Figure_path"].strip():
                yield MedMLLMError(f"{where}: empty Question or Figure_path")
                continue
            image = images / row["Figure_path"].strip()
            if not image.is_file():
                yield MedMLLMError(f"{where}: image '{row['Figure_path']}' not found in {images}")
                continue
            meta = {"source": "pmc-vqa", "split": split, "answer_type": "CHOICE", "figure_path": row["Figure_path"],
                    "index": row.get("index") or i, "choices": choices, "answer_label": letter,
                    "answer": letter, "answer_text": answer or choices[letter]}
            if row.get("Caption"):
                meta["caption"] = row["Caption"]
            yield vqa_record(f"pmc-vqa-{split}-{i}", ctx.rel(image), choice_prompt(row["Question"], choices), letter, meta)
