"""Stage 3, preference tuning (DPO): prefer the true report to one with a hallucinated finding.

Starts from a trained model (`train.init_from`, usually the sft stage's), which is also the frozen
reference. Trains on preference manifests (`prompt`/`chosen`/`rejected`, e.g. MedSynth's
`*_pref_*.jsonl` from `medmllm synth --preferences`). For each pair the policy and the reference
sum their log-probs over the answer tokens of chosen and rejected (prompt tokens masked), and

    loss = -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))        (`train.dpo.loss: sigmoid`)

with cDPO label smoothing, or IPO's squared loss on per-token log-ratios (`ipo`). At the first step
policy == reference, so the loss is log 2. The log history gets TRL's metric names:
`rewards/chosen`, `rewards/rejected` (beta * log-ratio), `rewards/margins`, `rewards/accuracies`
(share of pairs with chosen reward > rejected reward), `logps/chosen`, `logps/rejected`.
Freezing follows `train.trainable` (default as sft: connectors and LLM trained, encoders frozen;
`lora` works through the shared freeze policy); the model is saved like sft. Dropout is off and
batch-norm statistics stay fixed in the policy (TRL's `disable_dropout`), so policy == reference
exactly until the first update.

Why not TRL's `DPOTrainer` (trl 1.16): it cannot be fed our batches without replacing most of it.
* Its data path tokenizes `prompt`/`chosen`/`rejected` with an HF tokenizer or `ProcessorMixin`
  (`processor(images=..., text=...)` -> `pixel_values`). Our model takes `image`/`volume`/`ecg`
  tensors made by `MedMLLMProcessor`, whose placeholder expansion and DICOM/NIfTI/WFDB loading have
  no HF processor equivalent (volumes and ECGs have none at all).
* Its loss path calls `model(..., fused_lm_head=True)` and reads `outputs.log_probs`, after patching
  the LM head of a model it recognises; MedMLLM's head sits inside `model.llm`, behind the
  multimodal splice, so the patch would have to be redone too.
So a subclass would override the collator, the dataset preparation and `_compute_loss`, i.e. all
of DPOTrainer's own code, and tie us to trl's private methods (which change between minor
versions) for a new dependency. Instead, `DPOTrainer` here is a `transformers.Trainer` subclass
whose `compute_loss` is the ~20 lines of DPO; everything else (checkpoints, resume, grad
accumulation, TensorBoard, DDP) is the shared Trainer set-up in `_trainer.py`. The loss variants
and metric names follow TRL's, so curves compare.
"""
from __future__ import annotations

from collections import defaultdict
from functools import partial

import torch
import torch.nn.functional as F
from transformers import Trainer

from . import RECIPES
from ..config import DPOSpec
from ..data.preferences import PreferenceDataset, collate_preferences
from ..errors import MedMLLMError
from ..chat import MODALITIES
from ._trainer import build, save, train

POLICY = {"encoders": "frozen", "connectors": "full", "llm": "full"}


def sequence_logps(model, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the log-prob of the answer tokens (labels != -100) summed, and how many there are."""
    kwargs = {m: inputs[m] for m in MODALITIES if inputs.get(m) is not None}
    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False,
                   **kwargs).logits[:, :-1]  # (2B, L-1, V): position t predicts token t+1
    labels = inputs["labels"][:, 1:]  # (2B, L-1)
    token_logps = -F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
    return token_logps.sum(-1), (labels != -100).sum(-1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1, loss: str = "sigmoid", label_smoothing: float = 0.0,
             chosen_tokens: torch.Tensor | None = None, rejected_tokens: torch.Tensor | None = None):
    """Per-pair losses and the implicit rewards beta * (policy - reference) of chosen and rejected.

    sigmoid: -(1 - eps) log sigmoid(beta * m) - eps log sigmoid(-beta * m), m = (pi_c - ref_c) - (pi_r - ref_r);
    ipo: (m' - 1 / (2 beta))^2 with m' the difference of the log-ratios averaged per answer token."""
    chosen_ratio, rejected_ratio = policy_chosen - ref_chosen, policy_rejected - ref_rejected
    if loss == "sigmoid":
        z = beta * (chosen_ratio - rejected_ratio)
        losses = -(1 - label_smoothing) * F.logsigmoid(z) - label_smoothing * F.logsigmoid(-z)
    elif loss == "ipo":
        if chosen_tokens is None or rejected_tokens is None:
            raise ValueError("the ipo loss needs the answer token counts")
        margin = chosen_ratio / chosen_tokens.clamp(min=1) - rejected_ratio / rejected_tokens.clamp(min=1)
        losses = (margin - 1 / (2 * beta)) ** 2
    else:
        raise MedMLLMError(f"config key 'train.dpo.loss': {loss!r} is not one of sigmoid, ipo")
    return losses, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


def deterministic_layers(model) -> list[torch.nn.Module]:
    """Switch off dropout (as TRL's `disable_dropout`) and return the batch-norm layers, which the trainer
    keeps in eval mode: the policy then computes exactly what the reference does until its weights move."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


class DPOTrainer(Trainer):
    """`Trainer` whose loss is DPO against a frozen reference; batches are [chosen rows, rejected rows]."""

    def __init__(self, *args, ref_model, dpo: DPOSpec, **kwargs):
        super().__init__(*args, **kwargs)
        self.dpo = dpo
        self._batch_norms = deterministic_layers(self.model)
        self.ref_model = ref_model.to(self.args.device).eval().requires_grad_(False)
        # the loss is a mean over pairs, not a token sum: let the Trainer divide it by the accumulation steps
        self.model_accepts_loss_kwargs = False
        self._stats = {"train": defaultdict(list), "eval": defaultdict(list)}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        for bn in self._batch_norms:  # `training_step` has just called model.train()
            bn.eval()
        policy, tokens = sequence_logps(model, inputs)
        with torch.no_grad():
            ref, _ = sequence_logps(self.ref_model, inputs)
        (pc, pr), (rc, rr), (nc, nr) = policy.chunk(2), ref.chunk(2), tokens.chunk(2)
        d = self.dpo
        losses, chosen_rewards, rejected_rewards = dpo_loss(pc, pr, rc, rr, d.beta, d.loss, d.label_smoothing, nc, nr)
        stats = self._stats["train" if model.training else "eval"]
        margins = chosen_rewards - rejected_rewards
        for name, value in (("rewards/chosen", chosen_rewards), ("rewards/rejected", rejected_rewards),
                            ("rewards/margins", margins), ("rewards/accuracies", (margins > 0).float()),
                            ("logps/chosen", pc.detach()), ("logps/rejected", pr.detach())):
            stats[name].append(self.accelerator.gather_for_metrics(value).float().mean().item())
        loss = losses.mean()
        if d.rpo_alpha:  # RPO: keep the chosen answers likely (mean NLL per answer token)
            nll = -(pc / nc.clamp(min=1)).mean()
            stats["nll/chosen"].append(self.accelerator.gather_for_metrics(nll.detach()).float().mean().item())
            loss = loss + d.rpo_alpha * nll
        return (loss, {"chosen_rewards": chosen_rewards, "rejected_rewards": rejected_rewards}) if return_outputs \
            else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the means of the DPO metrics since the last log (eval ones prefixed `eval_`)."""
        mode = "eval" if any(k.startswith("eval_") for k in logs) else "train"
        if mode == "train" and "loss" not in logs:  # the end-of-training summary
            return super().log(logs, start_time)
        prefix = "eval_" if mode == "eval" else ""
        logs = {**logs, **{f"{prefix}{k}": sum(v) / len(v) for k, v in self._stats[mode].items() if v}}
        self._stats[mode].clear()
        super().log(logs, start_time)


def reference_model(cfg, like):
    """A frozen copy of the starting checkpoint (`train.init_from`; an adapter folder merged)."""
    from ..checkpoint import load_pretrained

    model, _ = load_pretrained(cfg.train.init_from, merge=True)
    dtype = next(like.parameters()).dtype
    return model.to(dtype).eval().requires_grad_(False)


@RECIPES.register("dpo")
def dpo(cfg, resume: bool = False) -> dict:
    if not cfg.train.init_from:
        raise MedMLLMError("config key 'train.init_from' is empty: DPO starts from a trained model (e.g. the sft "
                           "stage's), which is also its frozen reference")
    spec = cfg.train.dpo  # its values are checked by the config (`DPOSpec`)
    model, processor, data = build(cfg, default_policy=POLICY, resume=resume, dataset_cls=PreferenceDataset)
    ref = reference_model(cfg, model)
    metrics = train(cfg, model, processor, data, resume=resume, trainer_cls=DPOTrainer, ref_model=ref, dpo=spec,
                    data_collator=partial(collate_preferences, pad_id=processor.tokenizer.pad_token_id))
    save(cfg, model, processor, metrics)
    return metrics
