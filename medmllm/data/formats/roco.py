"""ROCO, Radiology Objects in COntext (Pelka et al. 2018), https://github.com/razorx89/roco-dataset.

Layout: `data/{train,validation,test}/radiology/captions.txt` with lines `ROCO_00001<TAB>caption`, and
`dlinks.txt` lines `ROCO_00001<TAB>wget .../PMC4083729.tar.gz ...<TAB>image.jpg`; the repository's
`scripts/fetch.py` saves each image as `images/<PMCID>_<image.jpg>` next to them. Images named
`images/ROCO_00001.jpg` (.png), as some mirrors ship them, are found too. Only the radiology subset is
converted; split names are the folder names. SRC: the repository root, `data/`, or one split's
`radiology/` folder; `--images` replaces each split's `images/` folder.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import MedMLLMError
from . import FORMATS, Context, vqa_record

SPLITS = ("train", "validation", "test")
PROMPT = "Describe this image."


def _dlinks(folder: Path) -> dict[str, str]:
    path = folder / "dlinks.txt"
    if not path.is_file():
        path = next(iter(sorted(folder.glob("dlinks*.txt"))), None)
    out = {}
    if path is not None:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                url = parts[1].split()
                pmcid = next((u.rsplit("/", 1)[-1].split(".")[0] for u in url if u.endswith(".tar.gz")), "")
                out[parts[0].strip()] = f"{pmcid}_{parts[-1].strip()}" if pmcid else parts[-1].strip()
    return out


@FORMATS.register("roco")
def roco(ctx: Context):
    src = ctx.src
    data = src / "data" if (src / "data").is_dir() else src
    if (src / "captions.txt").is_file():
        folders = {src.parent.name if src.name == "radiology" else src.name: src}
    else:
        folders = {s: data / s / "radiology" for s in SPLITS if (data / s / "radiology" / "captions.txt").is_file()}
    if not folders:
        raise MedMLLMError(f"{src}: no ROCO captions found (expected data/{{train,validation,test}}/radiology/captions.txt)")
    for split in ctx.splits(folders, src):
        folder = folders[split]
        captions = folder / "captions.txt"
        images = ctx.images or folder / "images"
        names = _dlinks(folder)
        for i, line in enumerate(captions.read_text(encoding="utf-8", errors="replace").splitlines()):
            if not line.strip():
                continue
            roco_id, sep, caption = line.partition("\t")
            roco_id, caption = roco_id.strip(), caption.strip()
            where = f"{captions.name} ({split}): line {i + 1} ({roco_id or '?'})"
            if not sep or not roco_id or not caption:
                yield MedMLLMError(f"{where}: expected 'ROCO_ID<TAB>caption'")
                continue
            candidates = ([names[roco_id]] if roco_id in names else []) + [f"{roco_id}{e}" for e in (".jpg", ".png")]
            image = next((images / c for c in candidates if (images / c).is_file()), None)
            if image is None:
                yield MedMLLMError(f"{where}: image '{candidates[0]}' not found in {images}")
                continue
            meta = {"source": "roco", "split": split, "answer_type": "CAPTION", "roco_id": roco_id,
                    "image_name": image.name, "answer": caption}
            yield vqa_record(f"roco-{roco_id}", ctx.rel(image), PROMPT, caption, meta)
