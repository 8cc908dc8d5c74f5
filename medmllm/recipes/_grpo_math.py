"""GRPO's math on tensors (a leaf: it imports nothing of ours; `grpo.py` re-exports it): group-relative
advantages and the clipped policy-gradient loss with its variants, whose formulas and papers are in
`grpo.py`'s docstring. Ratios, clipping and aggregation follow TRL's `GRPOTrainer._compute_loss`
(trl/trainer/grpo_trainer.py), advantages its `_generate_and_score_completions`.
"""
from __future__ import annotations

import torch

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
SCALES = ("group", "batch", "none")
LEVELS = ("token", "sequence")


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4, scale: str = "group") -> torch.Tensor:
    """Rewards (B * G,), grouped by prompt in consecutive runs of G -> r - group mean, divided by std + eps:
    the group's std (`scale` "group"), the std of all B * G rewards ("batch"), or not divided ("none",
    Dr. GRPO). Stds are population ones (ddof 0; TRL's take ddof 1); a group of equal rewards gets 0."""
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    r = rewards.view(-1, group_size)  # (B, G)
    centred = r - r.mean(1, keepdim=True)
    if scale == "none":
        return centred.view(-1)
    std = r.std(1, keepdim=True, correction=0) if scale == "group" else rewards.std(correction=0)
    return (centred / (std + eps)).view(-1)  # (B * G,)


def importance_ratios(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor, level: str = "token"
                      ) -> torch.Tensor:
    """pi / pi_old from (N, C) log-probs: per token (N, C), or per sequence (N, 1) for GSPO, the exp of the
    completion's mean token log-ratio (the geometric mean of its token ratios)."""
    log_ratio = logp - old_logp
    if level == "token":
        return torch.exp(log_ratio)
    if level == "sequence":
        return torch.exp((log_ratio * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp(min=1))
    raise ValueError(f"importance sampling level {level!r} is not one of {', '.join(LEVELS)}")


def aggregate(terms: torch.Tensor, mask: torch.Tensor, loss_type: str = "grpo",
              max_completion_length: int | None = None, num_tokens: torch.Tensor | float | None = None
              ) -> torch.Tensor:
    """Token terms (N, C), or (N, 1) broadcast to a completion's tokens, masked -> the scalar loss:
    `grpo` mean over completions of their token mean; `dr_grpo` sum / (N * max_completion_length);
    `bnpo` sum / the batch's completion tokens; `dapo` sum / `num_tokens` (the tokens the step is
    normalised by; None: this batch's, i.e. `bnpo`)."""
    masked = terms * mask  # (N, C)
    if loss_type == "grpo":
        return (masked.sum(1) / mask.sum(1).clamp(min=1)).mean()
    if loss_type == "dr_grpo":
        if max_completion_length is None:
            raise ValueError("loss_type 'dr_grpo' needs max_completion_length (the generation limit)")
        return masked.sum() / (terms.shape[0] * max_completion_length)
    if loss_type == "bnpo" or (loss_type == "dapo" and num_tokens is None):
        return masked.sum() / mask.sum().clamp(min=1)
    if loss_type == "dapo":
        return masked.sum() / num_tokens
    raise ValueError(f"loss type {loss_type!r} is not one of {', '.join(LOSS_TYPES)}")


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None,
              advantages: torch.Tensor, mask: torch.Tensor, beta: float, epsilon: float,
              epsilon_high: float | None = None, loss_type: str = "grpo", importance_sampling_level: str = "token",
              max_completion_length: int | None = None, num_tokens: torch.Tensor | float | None = None
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped policy-gradient loss plus beta * k3 KL to the reference, aggregated by `loss_type`.

    `logp`, `old_logp`, `ref_logp`, `mask`: (N, C) per completion token; `advantages` (N,). The ratio
    (per token, or per completion with `importance_sampling_level` "sequence") is clipped to
    [1 - epsilon, 1 + epsilon_high] (`epsilon_high` None: `epsilon`); token terms -min(ratio * A,
    clip(ratio) * A) + beta * KL go through `aggregate`. Returns the loss and its statistics:
    `policy_loss` (the aggregated policy term), `kl` (mean per-sequence KL; 0 without a reference),
    `clip_fraction` (share of completion tokens, or of completions at sequence level, whose ratio is
    clipped in the direction of the advantage, so no gradient)."""
    mask = mask.to(logp.dtype)
    adv = advantages.unsqueeze(1)  # (N, 1)
    low, high = epsilon, epsilon if epsilon_high is None else epsilon_high
    ratio = importance_ratios(logp, old_logp, mask, importance_sampling_level)  # (N, C) or (N, 1)
    clipped = torch.clamp(ratio, 1 - low, 1 + high)
    per_token = -torch.min(ratio * adv, clipped * adv)  # (N, C) or (N, 1)

    def agg(terms: torch.Tensor) -> torch.Tensor:
        return aggregate(terms, mask, loss_type, max_completion_length, num_tokens)

    policy = agg(per_token)
    loss, kl = policy, torch.zeros((), dtype=logp.dtype, device=logp.device)
    if ref_logp is not None:
        delta = ref_logp - logp
        k3 = torch.exp(delta) - delta - 1  # (N, C)
        loss = policy + beta * agg(k3)
        kl = aggregate(k3, mask, "grpo")
    is_clipped = (((ratio < 1 - low) & (adv < 0)) | ((ratio > 1 + high) & (adv > 0))).to(mask.dtype)
    if is_clipped.shape[1] == 1:  # one ratio per completion (as TRL counts it)
        clip_fraction = is_clipped.mean()
    else:
        clip_fraction = (is_clipped * mask).sum() / mask.sum().clamp(min=1)
    return loss, {"policy_loss": policy.item(), "kl": kl.item(), "clip_fraction": clip_fraction.item()}
