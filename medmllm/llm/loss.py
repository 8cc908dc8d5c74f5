"""Per-token weights of the language-model loss: how much each answer token counts.

A batch mixes one-word answers ("yes") with 90-token rationales and reports. The plain causal-LM
loss is the mean over answer tokens, so a turn counts by its length: in the demo's SFT data the
12,019 short VQA answers are 8% of the answer tokens and the 4,450 rationales and reports 92%.
InternVL 2.5 (Chen et al. 2024, section 4.3) names the three choices: with `n` the length of the
answer a token belongs to, its weight is 1 ("token averaging"), 1/n ("sample averaging": every
answer counts the same) or 1/sqrt(n) ("square averaging", InternVL's default, between the two).
Here an answer is a turn: a run of consecutive kept labels (records packed into one sample
(`data.pack_turns`) stay separate answers).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POWERS = {"token": 0.0, "square": 0.5, "turn": 1.0}
"""`train.loss_weighting` -> the power p of the weight 1 / n^p of a token in an answer of n tokens."""


def turn_weights(keep: torch.Tensor, power: float) -> torch.Tensor:
    """`keep` (B, L): where a label is kept -> the weight of each kept token (kept,), in `keep[keep]` order:
    1 / n^power, n the length of the run of kept positions (the answer turn) the token is in."""
    if power == 0:
        return torch.ones(int(keep.sum()), device=keep.device)
    before = F.pad(keep[:, :-1], (1, 0), value=False)  # (B, L): kept label one position earlier
    starts = (keep & ~before).flatten()  # (B * L,): first token of each turn
    turn = (starts.cumsum(0) - 1)[keep.flatten()]  # (kept,): which turn each kept token is in
    lengths = torch.bincount(turn).float()  # (turns,)
    return lengths[turn] ** -power


def weighted_nll(logits: torch.Tensor, target: torch.Tensor, keep: torch.Tensor, power: float,
                 num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor:
    """The answer-token loss: `logits` (kept, V) and `target` (kept,) at the kept positions of `keep`
    (B, L-1; position t predicts token t+1), each token weighted 1 / n^power (`turn_weights`); the
    weighted mean, or under gradient accumulation (the Trainer's `num_items_in_batch`) scaled so the
    micro-batch counts by its answer tokens, as transformers' `ForCausalLMLoss`."""
    nll = F.cross_entropy(logits.float(), target, reduction="none")  # (kept,)
    w = turn_weights(keep, power)  # (kept,), all 1 for the token mean
    loss = (w * nll).sum() / w.sum()
    if num_items_in_batch is not None:
        loss = loss * keep.sum() / (num_items_in_batch.to(loss.device) if torch.is_tensor(num_items_in_batch)
                                    else num_items_in_batch)
    return loss


def causal_lm_loss(outputs, labels: torch.Tensor, num_items_in_batch=None, *, power: float) -> torch.Tensor:
    """`weighted_nll` from a model's full logits (B, L, V) and its labels (B, L): the Trainer's
    `compute_loss_func` for models whose forward computes its own, unweighted loss (Hugging Face VLMs)."""
    target = labels[:, 1:].to(outputs.logits.device)
    keep = target != -100  # (B, L-1)
    return weighted_nll(outputs.logits[:, :-1][keep], target[keep], keep, power, num_items_in_batch)
