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


def _records(tmp_path, rows):
    Image.new("L", (40, 40), 100).save(tmp_path / "a.png")
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(
        {"image": "a.png", "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}) + "\n"
        for q, a in rows))
    return tmp_path / "m.jsonl"


def test_packed_records_are_kept_apart(tiny_model, tmp_path):
    """Records packed into one item see the image and themselves only: the template's header and the
    image's placeholders come once (segment 0), then each record's own tokens (segments 1, 2, 3) with
    positions restarting where the image ends. Every token's logits, and so the loss, are those of its
    record alone (eager and SDPA attention), so an earlier record's answer ("left") cannot tell a later
    one its answer, as it could in a merged chat."""
    import torch

    from medmllm.data.collate import collate

    model, proc = tiny_model
    rows = [("<image>\nIs there a pleural effusion?", "yes"), ("<image>\nOn which side?", "left"),
            ("<image>\nIs there a left pleural effusion?", "yes")]
    manifest = _records(tmp_path, rows)
    packed = ManifestDataset([manifest], proc, pack_turns=4)
    alone = ManifestDataset([manifest], proc)
    assert len(packed) == 1 and packed.lengths() == [len(packed[0]["input_ids"])]
    item, singles = packed[0], [alone[i] for i in range(3)]
    image_id = proc.tokenizer.convert_tokens_to_ids("<image>")
    shared = 1 + max(t for t, tok in enumerate(item["input_ids"].tolist()) if tok == image_id)
    sizes = [len(s["input_ids"]) - shared for s in singles]
    assert item["segments"].tolist() == [0] * shared + [1] * sizes[0] + [2] * sizes[1] + [3] * sizes[2]
    assert item["position_ids"].tolist() == [*range(shared)] + [p for n in sizes for p in range(shared, shared + n)]
    model.eval()
    batch = collate([item], proc.tokenizer.pad_token_id)
    for implementation in ("eager", "sdpa"):
        model.llm.config._attn_implementation = implementation
        with torch.no_grad():
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]  # (L, vocab)
            for k, single in enumerate(singles, start=1):
                one = collate([single], proc.tokenizer.pad_token_id)
                expected = model(**{k: v for k, v in one.items() if k != "labels"}).logits[0]  # (L_k, vocab)
                mine = item["segments"] == k
                torch.testing.assert_close(logits[mine], expected[shared:], rtol=1e-4, atol=1e-5)
                torch.testing.assert_close(logits[:shared], expected[:shared], rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        merged = ManifestDataset([manifest], proc, pack_turns=4)
        merged.isolate = False  # the old merged chat: record 3 sees record 2's "left"
        chat = merged[0]
        assert "segments" not in chat and len(chat["input_ids"]) > len(item["input_ids"])


def test_records_with_text_before_the_image_are_merged_as_turns(tiny_model, tmp_path):
    """Where the image comes after text, the records share no prefix ending in the image: they are not
    kept apart but merged as turns of one chat, as before; a VLM processor never keeps them apart."""
    from medmllm.data.manifest import shared_prefix

    _, proc = tiny_model
    manifest = _records(tmp_path, [("Is there an effusion?\n<image>", "yes"), ("Which side? <image>", "left")])
    ds = ManifestDataset([manifest], proc, pack_turns=4)
    assert len(ds) == 2 and all("segments" not in ds[i] for i in range(2))  # different prefixes: not packed
    rec = {"conversations": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "a"},
                             {"role": "user", "content": "<image>\nAnd here?"}, {"role": "assistant", "content": "b"}]}
    assert shared_prefix(rec) is None
    assert shared_prefix({"conversations": [{"role": "user", "content": "<image><image>\nQ"},
                                            {"role": "assistant", "content": "a"}]}) == \
        json.dumps([{"role": "user", "content": "<image><image>"}])
    from medmllm.vlm.processor import VLMProcessor

    assert proc.isolates_packed_records and not VLMProcessor.isolates_packed_records
