"""`train.loss_weighting`: the per-token weights of an answer turn, and the weighted loss in the model."""
import pytest
import torch

from medmllm.llm.loss import POWERS, turn_weights


def test_turn_weights_by_hand():
    """Two rows; row 0 holds a 1-token and a 3-token answer, row 1 a 2-token answer that ends the row and
    then continues on no next row (rows never join)."""
    keep = torch.tensor([[0, 1, 0, 1, 1, 1, 0],
                         [0, 0, 0, 0, 0, 1, 1]], dtype=torch.bool)
    assert turn_weights(keep, POWERS["token"]).tolist() == [1.0] * 6
    assert turn_weights(keep, POWERS["turn"]).tolist() == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3, 1 / 2, 1 / 2])
    s3, s2 = 3 ** -0.5, 2 ** -0.5
    assert turn_weights(keep, POWERS["square"]).tolist() == pytest.approx([1, s3, s3, s3, s2, s2])
    # a row that ends kept and the next that starts kept are two turns, not one of 4
    keep = torch.tensor([[0, 1, 1], [1, 1, 0]], dtype=torch.bool)
    assert turn_weights(keep, 1.0).tolist() == pytest.approx([0.5] * 4)


def test_weighted_loss_in_training(tiny_model):
    """With `turn`, the model's training loss is the mean over answer turns of each turn's mean token NLL
    (computed here from the full logits by hand); `token` stays the LLM's own loss."""
    from medmllm.data.collate import collate

    model, proc = tiny_model
    conversations = [
        [{"from": "human", "value": "<image>\nAny effusion?"}, {"from": "gpt", "value": "no"},
         {"from": "human", "value": "Describe the film."},
         {"from": "gpt", "value": "The heart is enlarged. There is a small left pleural effusion."}],
        [{"from": "human", "value": "<image>\nIs the heart size normal?"}, {"from": "gpt", "value": "yes"}]]
    batch = collate([{k: torch.tensor(v) for k, v in proc.encode(c).items()} for c in conversations],
                    proc.tokenizer.pad_token_id)
    batch["image"] = torch.randn(2, 1, 32, 32)
    labels = batch["labels"]
    was = model.training
    model.eval()
    with torch.no_grad():
        embeds = model.embed(batch["input_ids"], {"image": batch["image"]})
        logits = model.llm(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).logits
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], reduction="none",
                                            ignore_index=-100)  # (B, L-1), 0 where not kept
    turns = []
    for row, keep in zip(nll, labels[:, 1:] != -100):
        run = []
        for value, k in zip(row.tolist() + [0.0], keep.tolist() + [False]):
            if k:
                run.append(value)
            elif run:
                turns.append(sum(run) / len(run))
                run = []
    assert len(turns) >= 3
    model.train()
    try:
        model.turn_weight_power = POWERS["turn"]
        with torch.no_grad():
            loss = model(**batch).loss
        torch.testing.assert_close(loss, torch.tensor(sum(turns) / len(turns)), rtol=1e-5, atol=1e-6)
        model.turn_weight_power = 0.0
        with torch.no_grad():
            plain = model(**batch).loss
        torch.testing.assert_close(plain, nll.sum() / (labels[:, 1:] != -100).sum(), rtol=1e-5, atol=1e-6)
    finally:
        model.train(was)
        model.turn_weight_power = 0.0


def test_loss_weighting_is_typed():
    from medmllm.config import load_config
    from medmllm.errors import MedMLLMError

    assert load_config(None).train.loss_weighting == "token"
    assert load_config(None, ["train.loss_weighting=square"]).train.loss_weighting == "square"
    with pytest.raises(MedMLLMError, match=r"train\.loss_weighting"):
        load_config(None, ["train.loss_weighting=sample"])
