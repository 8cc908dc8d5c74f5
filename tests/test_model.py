"""MedMLLM: the splice, its count check, several inputs per sample, save/load, generation, peft, DDP."""
from __future__ import annotations

import pytest
import torch

from medmllm.model import MedMLLM


def _batch(processor, texts, **inputs):
    from medmllm.data.collate import collate

    samples = []
    for text in texts:
        s = {k: torch.tensor(v) for k, v in processor.encode(
            [{"from": "human", "value": text}, {"from": "gpt", "value": "yes"}]).items()}
        samples.append(s)
    batch = collate(samples, processor.tokenizer.pad_token_id)
    batch.update(inputs)
    return batch


def test_forward_all_modalities_and_several_images(tiny_model):
    model, proc = tiny_model
    batch = _batch(proc, ["<image>\n<image>\nCompare.", "<volume>\nAny lesion?", "<ecg>\nRhythm?"],
                   image=torch.randn(2, 1, 32, 32), volume=torch.randn(1, 1, 16, 32, 32), ecg=torch.randn(1, 12, 1000))
    out = model(**batch)
    assert out.logits.shape[:2] == batch["input_ids"].shape
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_count_mismatch_names_both_counts(tiny_model):
    model, proc = tiny_model
    batch = _batch(proc, ["<image>\nIs there an effusion?"], image=torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"16 <image> placeholder tokens but 32 feature vectors"):
        model(**batch)


def test_absent_modality_still_uses_every_trainable_parameter(tiny_model):
    """DDP without find_unused_parameters needs a gradient for every trainable parameter."""
    model, proc = tiny_model
    model.train()
    out = model(**_batch(proc, ["<image>\nAny effusion?"], image=torch.randn(1, 1, 32, 32)))
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


def test_save_load_same_outputs(tiny_model, tmp_path):
    model, proc = tiny_model
    model.eval()
    batch = _batch(proc, ["<image>\nAny effusion?"], image=torch.randn(1, 1, 32, 32))
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not list(tmp_path.glob("*.bin"))
    again = MedMLLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, again(**batch).logits)


def test_generate_with_cache_matches_greedy_without_cache(tiny_model):
    model, proc = tiny_model
    model.eval()
    ids = torch.tensor([proc.encode([{"role": "user", "content": "<volume>\nAny lesion?"}], True)["input_ids"]])
    volume = torch.randn(1, 1, 16, 32, 32)
    out = model.generate(input_ids=ids, volume=volume, max_new_tokens=6, do_sample=False, min_new_tokens=6,
                         pad_token_id=proc.tokenizer.pad_token_id)
    manual = ids
    with torch.no_grad():
        for _ in range(6):
            logits = model(input_ids=manual, volume=volume, use_cache=False).logits
            logits[..., model.generation_config.suppress_tokens] = float("-inf")
            manual = torch.cat([manual, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, manual)


def test_lora_under_peft(tiny_model):
    from peft import LoraConfig, get_peft_model

    model, proc = tiny_model
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=r".*llm.*\.(q_proj|v_proj)",
                                                  modules_to_save=["image"]))  # connectors.image
    batch = _batch(proc, ["<image>\nAny effusion?"], image=torch.randn(1, 1, 32, 32))
    loss = peft_model(**batch).loss
    loss.backward()
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in trainable) and any("connectors" in n for n in trainable)


def test_training_loss_on_answer_positions_equals_the_llm_loss(tiny_model):
    """In training, the output layer runs on answer positions only (`_answer_loss`): the same loss and
    gradients as the LLM's own loss over full logits, plain and token-weighted (`num_items_in_batch`)."""
    model, proc = tiny_model
    batch = _batch(proc, ["<image>\nAny effusion?", "<image>\nIs the heart size normal? Answer yes or no."],
                   image=torch.randn(2, 1, 32, 32))
    batch["labels"][0, -1] = -100  # a masked answer token inside a row
    was = model.training
    model.train()
    model.answer_head_only = True
    try:
        for extra in ({}, {"num_items_in_batch": torch.tensor(7)}):
            grads, losses = [], []
            for fast in (True, False):
                model.zero_grad()
                if fast:
                    out = model(**batch, **extra)
                    assert out.logits is None
                else:
                    embeds = model.embed(batch["input_ids"], {"image": batch["image"]})
                    out = model.llm(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                                    labels=batch["labels"], **extra)
                out.loss.backward()
                losses.append(out.loss.detach())
                grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
            torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
            for a, b in zip(*grads, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    finally:
        model.train(was)
        model.answer_head_only = False
        model.zero_grad()
