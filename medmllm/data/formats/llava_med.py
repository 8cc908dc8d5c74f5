"""LLaVA-Med (Li et al. 2023), https://github.com/microsoft/LLaVA-Med (data/download_data.sh).

Layout: `llava_med_alignment_500k.json` (concept alignment: one caption turn per figure) and
`llava_med_instruct_{10k,60k,60k_inline_mention,fig_captions}.json` (instruction tuning), each a JSON list
of `{"id", "image": "<file name>", "conversations": [{"from": "human"|"gpt", "value"}, ...]}` with images
downloaded into an images folder (`--images DIR`; default `images/` next to the JSON, else its folder).
Conversations are kept as they are; a first turn without `<image>` gets one in front. Split: `train`.
answer_type: CAPTION for the alignment file, OPEN for the instruction files; meta.answer is the first answer.
SRC: one JSON, or a folder of `llava_med_*.json`.
"""
from __future__ import annotations

from ...errors import MedMLLMError
from . import FORMATS, Context, read_json


@FORMATS.register("llava-med")
def llava_med(ctx: Context):
    src = ctx.src
    files = [src] if src.is_file() else sorted(src.glob("llava_med_*.json"))
    if not files:
        raise MedMLLMError(f"{src}: no LLaVA-Med JSON found (expected llava_med_alignment_500k.json or "
                           "llava_med_instruct_*.json)")
    ctx.splits(["train"], src)
    for path in files:
        data = read_json(path)
        if not isinstance(data, list):
            raise MedMLLMError(f"{path}: expected a JSON list of conversations, got {type(data).__name__}")
        images = ctx.media_dir(path.parent / "images", path.parent)
        kind = "CAPTION" if "alignment" in path.name else "OPEN"
        for i, r in enumerate(data):
            where = f"{path.name}: record {i} (id {r.get('id', '?') if isinstance(r, dict) else '?'})"
            conv = r.get("conversations") if isinstance(r, dict) else None
            if not isinstance(conv, list) or len(conv) < 2 or not r.get("image"):
                yield MedMLLMError(f"{where}: needs 'image' and a 'conversations' list")
                continue
            image = images / r["image"]
            if not image.is_file():
                yield MedMLLMError(f"{where}: image '{r['image']}' not found in {images}")
                continue
            turns = [{"from": t.get("from"), "value": str(t.get("value", ""))} for t in conv if isinstance(t, dict)]
            n = sum(t["value"].count("<image>") for t in turns)
            if n == 0 and turns:
                turns[0]["value"] = "<image>\n" + turns[0]["value"]
            elif n > 1:
                yield MedMLLMError(f"{where}: {n} <image> placeholders for one image")
                continue
            answer = next((t["value"] for t in turns if t["from"] == "gpt"), "")
            meta = {"source": "llava-med", "split": "train", "answer_type": kind, "orig_id": r.get("id"),
                    "file": path.name, "image_name": r["image"], "answer": answer}
            yield {"id": f"llava-med-{path.stem}-{i}", "image": ctx.rel(image), "conversations": turns, "meta": meta}
