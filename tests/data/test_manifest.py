"""Manifests: packing several single-turn records about one image into one multi-turn sample."""
import json

from PIL import Image

from medmllm.data.manifest import ManifestDataset
from medmllm.data.processor import IGNORE_INDEX


def test_pack_turns_groups_records_by_image(tiny_model, tmp_path):
    _, proc = tiny_model
    for name in ("a.png", "b.png"):
        Image.new("L", (40, 40), 100).save(tmp_path / name)
    recs = [("a.png", "yes"), ("b.png", "no"), ("a.png", "left"), ("a.png", "no")]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(
        {"image": img, "conversations": [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": ans}]})
        + "\n" for img, ans in recs))
    ds = ManifestDataset([tmp_path / "m.jsonl"], proc, pack_turns=2)
    assert len(ds) == 3 and ds.groups == [[0, 2], [3], [1]]
    sample = ds[0]
    image_id = proc.tokenizer.convert_tokens_to_ids("<image>")
    assert int((sample["input_ids"] == image_id).sum()) == 16 and sample["image"].shape[0] == 1
    answers = proc.tokenizer.decode([t for t, lab in zip(sample["input_ids"].tolist(), sample["labels"].tolist())
                                     if lab != IGNORE_INDEX])
    assert answers.replace("<|im_end|>", " ").split() == ["yes", "left"]
    assert len(ManifestDataset([tmp_path / "m.jsonl"], proc)) == 4
