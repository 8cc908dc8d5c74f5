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


def test_pack_turns_never_cuts_a_turn_that_fits_alone(tiny_model, tmp_path):
    """Packing stops adding turns at `max_length`: every answer stays whole, and a record longer than
    `max_length` on its own gets a sample of its own."""
    _, proc = tiny_model
    Image.new("L", (40, 40), 100).save(tmp_path / "a.png")
    answers = ["short", "a much longer answer " * 6, "mid sized answer here", "x", "one more " * 40]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(
        {"image": "a.png", "conversations": [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": a}]})
        + "\n" for a in answers))
    alone = ManifestDataset([tmp_path / "m.jsonl"], proc, max_length=4096)
    sizes = [len(alone[i]["input_ids"]) for i in range(len(answers))]
    limit = max(sizes[:4]) + 20   # room for any one of the first four, never for all of them
    ds = ManifestDataset([tmp_path / "m.jsonl"], proc, max_length=limit, pack_turns=8)
    assert sorted(i for g in ds.groups for i in g) == list(range(5)) and 1 < len(ds) < 5
    assert [4] in ds.groups                       # longer than max_length alone: its own sample (cut)
    kept = 0
    for g, i in zip(ds.groups, range(len(ds))):
        sample = ds[i]
        assert len(sample["input_ids"]) <= limit
        if g != [4]:
            assert len(sample["input_ids"]) == sum(sizes[j] for j in g) - (len(g) - 1) * ds._shared_tokens({"image": ["a.png"]})
            kept += int((sample["labels"] != IGNORE_INDEX).sum())
    assert kept == sum(int((alone[j]["labels"] != IGNORE_INDEX).sum()) for j in range(4))
