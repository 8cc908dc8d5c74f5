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
    questions = ["<image>\nQ?", "Is there an effusion?\n<image>", "Is there <image> a nodule?", "<image> Q", "Q?"]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(
        {"image": "a.png", "conversations": [{"from": "human", "value": q if "<image>" in q else "<image>\n" + q},
                                             {"from": "gpt", "value": a}]})
        + "\n" for q, a in zip(questions, answers)))
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
            kept += int((sample["labels"] != IGNORE_INDEX).sum())
    assert kept == sum(int((alone[j]["labels"] != IGNORE_INDEX).sum()) for j in range(4))
    for limit in range(min(sizes[:4]), sum(sizes[:4]) + 1, 7):   # no limit ever cuts a packed turn
        ds = ManifestDataset([tmp_path / "m.jsonl"], proc, max_length=limit, pack_turns=8)
        for g, i in zip(ds.groups, range(len(ds))):
            if 4 not in g and any(sizes[j] <= limit for j in g):
                assert int((ds[i]["labels"] != IGNORE_INDEX).sum()) == sum(
                    int((alone[j]["labels"] != IGNORE_INDEX).sum()) for j in g), (limit, g)


def test_pack_turns_takes_preference_records(tiny_model, tmp_path):
    """SFT on preference records (their chosen answers) packs like any other record."""
    _, proc = tiny_model
    Image.new("L", (40, 40), 100).save(tmp_path / "a.png")
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(
        {"image": "a.png", "prompt": [{"from": "human", "value": "<image>\nReport?"}], "chosen": c, "rejected": "bad"})
        + "\n" for c in ("good one", "good two")))
    ds = ManifestDataset([tmp_path / "p.jsonl"], proc, pack_turns=2)
    answers = proc.tokenizer.decode([t for t, lab in zip(ds[0]["input_ids"].tolist(), ds[0]["labels"].tolist())
                                     if lab != IGNORE_INDEX])
    assert len(ds) == 1 and answers.replace("<|im_end|>", " ").split() == ["good", "one", "good", "two"]


def test_lengths_are_the_samples_token_counts_packed_or_not(tiny_model, tmp_path):
    from medmllm.synth import synthesize

    synthesize(tmp_path, ["xray"], n=12, seed=1)
    _, processor = tiny_model
    manifests = [tmp_path / "xray_vqa_train.jsonl", tmp_path / "xray_report_train.jsonl"]
    for pack in (1, 4):
        ds = ManifestDataset(manifests, processor, max_length=384, pack_turns=pack)
        assert ds.lengths() == [len(ds[i]["input_ids"]) for i in range(len(ds))], pack


def test_token_counts_equal_encode_for_any_template(tiny_model):
    """The batched counts of the packing pass (`data/lengths.py`) are `encode`'s lengths: with ChatML,
    with a template that trims contents or adds a default system prompt (checked, counted exactly)."""
    import copy

    from medmllm.data.lengths import token_counts

    _, proc = tiny_model
    convs = [
        [{"from": "human", "value": "<image>\nIs there a pleural effusion?"}, {"from": "gpt", "value": "yes"}],
        [{"from": "human", "value": "  <image> Q?  "}, {"from": "gpt", "value": " no \n"},
         {"from": "human", "value": "And the heart?"}, {"from": "gpt", "value": ""}],
        [{"role": "system", "content": "You are a radiologist."}, {"role": "user", "content": "<ecg>\n<volume>"},
         {"role": "assistant", "content": "The heart size is normal. No pneumothorax."}],
        [{"from": "human", "value": "x" * 300}, {"from": "gpt", "value": "<|im_end|> \x02m0\x03"}],
    ] * 40
    templates = [proc.tokenizer.chat_template,
                 "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
                 "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nBe brief.<|im_end|>\n{% endif %}"
                 "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if 'heart' in m['content'] %}HEART {% endif %}"
                 "{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"]
    for template in templates:
        p = copy.copy(proc)
        p.tokenizer = copy.deepcopy(proc.tokenizer)
        p.tokenizer.chat_template = template
        assert token_counts(p, convs) == [len(p.encode(c)["input_ids"]) for c in convs], template[:60]
