"""M3D-Cap (Bai et al. 2024, M3D-Data), https://huggingface.co/datasets/GoodBaiBai88/M3D-Cap.

Layout: `M3D_Cap.json` = {"train"|"validation"|"test": [{"image": "<dir>/<case>/<n>.npy",
"text": "<dir>/<case>/text.txt"}, ...]} with paths relative to the data root (M3D's `--data_root`, as
read by `LaMed/src/dataset/multi_dataset.py` in https://github.com/BAAI-DCAI/M3D); the volumes are
(1, D, H, W) .npy in [0, 1]. The data root is `--images` when given, else the JSON's folder or its
parent, whichever holds the first volume. One record per volume, the caption (the .txt) as answer,
key `volume`. SRC: M3D_Cap.json or its folder.
"""
from __future__ import annotations

from ...errors import MedMLLMError
from . import FORMATS, Context, find_file, read_json, vqa_record

PROMPT = "Describe this image."


@FORMATS.register("m3d-cap")
def m3d_cap(ctx: Context):
    path = find_file(ctx.src, ["M3D_Cap.json"], "M3D-Cap JSON")
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise MedMLLMError(f"{path}: expected {{split: [{{'image', 'text'}}, ...]}}")
    first = next((r["image"] for v in data.values() for r in v if isinstance(r, dict) and r.get("image")), "")
    root = ctx.images or next((d for d in (path.parent, path.parent.parent) if (d / first).is_file()), path.parent)
    for split in ctx.splits(data, path):
        for i, r in enumerate(data[split]):
            where = f"{path.name}: {split} record {i}"
            if not isinstance(r, dict) or not r.get("image") or not r.get("text"):
                yield MedMLLMError(f"{where}: needs 'image' and 'text'")
                continue
            where += f" ({r['image']})"
            volume, text = root / r["image"], root / r["text"]
            for f, what, name in ((volume, "volume", r["image"]), (text, "text", r["text"])):
                if not f.is_file():
                    yield MedMLLMError(f"{where}: {what} '{name}' not found in {root}")
                    break
            else:
                caption = text.read_text(encoding="utf-8", errors="replace").strip()
                if not caption:
                    yield MedMLLMError(f"{where}: empty caption '{r['text']}'")
                    continue
                meta = {"source": "m3d-cap", "split": split, "answer_type": "CAPTION", "image": r["image"],
                        "text": r["text"], "answer": caption}
                yield vqa_record(f"m3d-cap-{split}-{i}", ctx.rel(volume), PROMPT, caption, meta, key="volume")
