"""Stage 3, GRPO: reinforcement learning with verifiable rewards (DeepSeekMath's Group Relative
Policy Optimisation) on image, volume and ECG prompts, with the loss variants in use since (DAPO,
Dr. GRPO, GSPO) as `train.grpo` switches named as TRL's `GRPOConfig` names them.

For each prompt (a record's conversation minus its last answer; that answer is the reference) the
current policy samples G completions ("<think>" prefilled when `train.grpo.think`); each is scored
by `medmllm.rewards.combine(train.grpo.rewards)` against the reference; advantages are the rewards
relative to their group, A = (r - mean) / (std + 1e-4) (`scale_rewards: group`; `batch` takes the
std of the whole batch's rewards, `none` divides by nothing, as Dr. GRPO). Per completion token t of
completion i the loss term is

    l_it = -min(ratio * A_i, clip(ratio, 1 - eps, 1 + eps_high) * A_i) + beta * KL_it,
    ratio = exp(logp - logp_old),   KL = exp(ref - logp) - (ref - logp) - 1   (k3, against the reference)

with eps_high = `epsilon_high` (DAPO's clip-higher; None: `epsilon`). `loss_type` aggregates the
masked terms as TRL's `_compute_loss` does (|o_i| the completion's tokens, N the rows):

    grpo     mean_i (sum_t l_it / |o_i|)         DeepSeekMath's sequence-level mean (the default)
    dr_grpo  sum_it l_it / (N * max_new_tokens)  Dr. GRPO (Liu et al. 2025): a constant, no length bias
    bnpo     sum_it l_it / sum_i |o_i|           token-level mean over the micro-batch
    dapo     as bnpo, over every process's micro-batch (DAPO, Yu et al. 2025: token-level loss)

With `importance_sampling_level: sequence` (GSPO, Zheng et al. 2025) the ratio is one per completion,
s_i = exp(mean_t (logp_it - logp_old_it)), the geometric mean of its token ratios, clipped per
completion and broadcast to its tokens (TRL's GSPO setting pairs it with `loss_type: grpo`). `beta: 0`
is the KL-free setting of DAPO and Dr. GRPO: no reference model is built, the loss has no KL term.
With `dynamic_sampling` (DAPO) the groups whose G rewards are all equal (advantage 0, no gradient) are
dropped and the batch is refilled with groups sampled for further training prompts, for at most
`max_sampling_rounds` generation rounds (`groups_kept` and `sampling_rounds` are logged); a batch still
short trains on the groups it kept (none: a zero loss). `logp_old` is the policy that sampled (with `iterations` == 1 it
is `logp` detached, so ratio == 1 and the gradient is the plain policy gradient). The reference is the
starting checkpoint (`train.init_from`) or the initial weights: a frozen copy, or, for a `lora` run,
the same model with its adapters disabled. The modality inputs of a prompt are repeated for its G
completions. The math is in `_grpo_math.py`.

Why not TRL's `GRPOTrainer`: it builds prompts, generation inputs and log-prob batches through an
HF processor (`processing_class`): its chat template, and `images` it turns into pixel values that
the model receives by the processor's keyword names. Our model instead takes `image`, `volume` and
`ecg` tensors made by our own processor (DICOM/NIfTI/WFDB loaders, placeholder expansion to M
tokens, several inputs per prompt stacked in placeholder order), and TRL has no path for volumes
or ECGs at all. Wrapping our processor to look like an HF one would mean imitating TRL internals
that change between releases, so the GRPO step is written here instead, in a small
`transformers.Trainer` subclass: generation happens in `_prepare_inputs` (as TRL does it), the
loss in `compute_loss`. Through the Trainer we keep what the other recipes have: checkpoints with
optimizer/scheduler/RNG state and `--resume`, the learning-rate schedule, gradient accumulation,
TensorBoard, `log_history.json` and `loss.png`. Each step's statistics (rewards, KL, clip
fraction, completion length, well-formed fraction, timings, kept groups) also go to `grpo_log.jsonl`.

With `iterations` > 1 each batch of prompts is drawn `iterations` times in a row (a repeating
sampler), and the batch generated on the first of those steps is reused for the others. A run
resumed between those steps generates afresh for the remaining ones.

Rollouts are generated per micro-batch, so where TRL's `dapo` divides by the tokens of a whole
generation batch (all `grad_accum` micro-batches of a step), ours divides by a micro-batch's: the same
for `grad_accum` 1.
"""
from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils.data import Dataset, Sampler
from transformers import Trainer

from .. import rewards as reward_registry
from ..data.collate import TEXT_KEYS, collate
from ..data.manifest import ManifestDataset
from ..data.records import conversation, record_inputs
from ..decode import sample_completions
from ..errors import MedMLLMError, brief
from ..lora import is_peft_model
from ..model import MedMLLM
from ..reasoning import THINK_PREFIX
from . import RECIPES
from ._grpo_math import aggregate, group_advantages, grpo_loss, importance_ratios  # noqa: F401 (re-exported)
from ._grpo_rows import concat_rows, take_rows, varied_rows
from ._trainer import build, save, train

POLICY = {"encoders": "frozen", "connectors": "full", "llm": "full"}
LOG_FILE = "grpo_log.jsonl"


@RECIPES.register("grpo")
def grpo(cfg, resume: bool = False) -> dict:
    spec = cfg.train.grpo  # values checked by the config (`GRPOSpec`); the rewards need their registry:
    reward_registry.combine(spec.rewards)  # unknown names and bad weights fail before the model is built
    model, processor, data = build(cfg, default_policy=POLICY, resume=resume)
    if "eval" in data:
        print("grpo: data.eval is not used (no held-out loss for GRPO)")
    prompts = PromptDataset(data["train"], prefix=THINK_PREFIX if spec.think else "")
    reference = reference_model(model) if spec.beta > 0 else None
    log_path = Path(cfg.train.output_dir) / LOG_FILE
    if not resume:
        log_path.unlink(missing_ok=True)
    metrics = train(cfg, model, processor, {"train": prompts}, resume=resume, trainer_cls=GRPOTrainer,
                    data_collator=GroupCollator(processor.tokenizer.pad_token_id, spec.group_size),
                    spec=spec, reference=reference, log_path=log_path)
    save(cfg, model, processor, metrics)
    return metrics


def reference_model(model):
    """The frozen reference: a copy of the starting weights; None for a peft model, whose reference is
    itself with the adapters disabled."""
    if is_peft_model(model):
        return None
    import copy

    ref = copy.deepcopy(model).eval()
    ref.requires_grad_(False)
    return ref


def policy_mode(model) -> None:
    """Layers in eval mode (dropout off, BatchNorm on its running statistics) so the policy that is
    scored is exactly the policy that sampled (and equals the reference before the first update);
    a MedMLLM itself stays `training`, so absent modality branches still join the graph (DDP)."""
    model.eval()
    core = next((m for m in model.modules() if isinstance(m, MedMLLM)), None)  # under DDP/peft wrappers too
    if core is not None:
        core.training = True


# -- prompts --------------------------------------------------------------------------------------
class PromptDataset(Dataset):
    """The records of a `ManifestDataset` as GRPO prompts: the conversation minus its last answer,
    encoded with the generation prompt (plus `prefix`, e.g. "<think>"), its inputs, and that last
    answer as `reference`. One item per record (`data.pack_turns` does not apply)."""

    def __init__(self, records: ManifestDataset, prefix: str = ""):
        self.records, self.processor = records, records.processor
        self.prefix_ids = self.processor.tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []

    @property
    def skipped(self) -> list[str]:
        return self.records.skipped

    def __len__(self) -> int:
        return len(self.records.offsets)

    def __getitem__(self, i: int) -> dict:
        for k in range(len(self)):  # as ManifestDataset: with on_error=skip a bad record is replaced
            j = (i + k) % len(self)
            try:
                return self._load(j)
            except Exception as e:
                why = str(e) if isinstance(e, MedMLLMError) else f"{type(e).__name__}: {brief(e)}"
                self.records._fail(f"{self.records.location(j)}: {why}")
        raise MedMLLMError(f"{', '.join(map(str, self.records.paths))}: no record could be loaded")

    def _load(self, i: int) -> dict:
        rec = self.records.record(i)
        root = self.records.paths[self.records.file_idx[i]].parent
        conv = conversation(rec)
        ids = self.processor.encode(conv[:-1], generation_prompt=True)["input_ids"] + self.prefix_ids
        if len(ids) > self.records.max_length:
            raise MedMLLMError(f"prompt of {len(ids)} tokens exceeds data.max_length={self.records.max_length}")
        out = {"input_ids": torch.tensor(ids), "reference": conv[-1]["content"]}
        for modality, paths in record_inputs(rec).items():
            out.update(self.processor.inputs(modality, [root / p for p in paths]))
        return out


class GroupCollator:
    """B prompts -> a left-padded generation batch of B * G rows (each prompt and its inputs repeated G
    times, consecutively) with the references alongside, `input_keys` (the processor's input keys in the
    batch) and `input_counts` (B * G, len(input_keys)):
    how many entries of each input key each row owns (to take rows out of a batch)."""

    def __init__(self, pad_id: int, group_size: int):
        self.pad_id, self.group_size = pad_id, group_size

    def __call__(self, batch: list[dict]) -> dict:
        rows = [b for b in batch for _ in range(self.group_size)]
        out = collate([{k: v for k, v in b.items() if k != "reference"} for b in rows], self.pad_id, left_pad=True)
        keys = [k for k in out if k not in TEXT_KEYS]
        out["references"], out["input_keys"] = [b["reference"] for b in rows], keys
        out["input_counts"] = torch.tensor([[len(b[k]) if k in b else 0 for k in keys] for b in rows],
                                           dtype=torch.long).view(len(rows), len(keys))
        return out


class RepeatBatchSampler(Sampler[int]):
    """Shuffled indices in blocks of `block` (a step's prompts), each block yielded `repeats` times in a
    row, so `iterations` consecutive steps see the same prompts; the last block is filled from the
    start of the permutation."""

    def __init__(self, n: int, block: int, repeats: int, seed: int):
        self.n, self.block, self.repeats, self.seed, self.epoch = n, block, repeats, seed, 0

    def __len__(self) -> int:
        return math.ceil(self.n / self.block) * self.block * self.repeats

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        perm = torch.randperm(self.n, generator=g).tolist()
        perm += (perm * self.block)[: (-len(perm)) % self.block]
        for start in range(0, len(perm), self.block):
            for _ in range(self.repeats):
                yield from perm[start:start + self.block]


def shuffled_forever(n: int, seed: int):
    """Indices 0..n-1 in one shuffled order after another, from a generator seeded once with `seed`."""
    g = torch.Generator().manual_seed(seed)
    while True:
        yield from torch.randperm(n, generator=g).tolist()


# -- the trainer ----------------------------------------------------------------------------------
class GRPOTrainer(Trainer):
    """HF Trainer whose batches are generated rollouts: `_prepare_inputs` samples and scores the
    completions (no grad), `compute_loss` is the GRPO loss; `log` adds the GRPO statistics."""

    def __init__(self, *args, spec, reference=None, log_path: Path | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec, self.reference, self.log_path = spec, reference, log_path
        self.reward = reward_registry.combine(spec.rewards)  # normalised weights, zero weights dropped
        self.model_accepts_loss_kwargs = False  # our loss is a per-batch mean: the Trainer divides by grad_accum
        self._rollouts: dict[int, dict] = {}  # micro-batch slot within a step -> its rollout
        self._micro = 0
        self._stats: dict[str, list[float]] = defaultdict(list)
        self._refill = None  # dynamic sampling's stream of prompt indices, started when first needed

    def _get_train_sampler(self, train_dataset=None):
        if self.spec.iterations == 1:
            return super()._get_train_sampler(train_dataset)
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        return RepeatBatchSampler(len(dataset), self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                  self.spec.iterations, self.args.seed)

    # -- rollouts ---------------------------------------------------------------------------------
    def _prepare_inputs(self, inputs: dict) -> dict:
        inputs = super()._prepare_inputs(inputs)
        if not self.model.training:
            return inputs
        slot = self._micro % self.args.gradient_accumulation_steps
        self._micro += 1
        if self.state.global_step % self.spec.iterations == 0 or slot not in self._rollouts:
            self._rollouts[slot] = self.rollout(inputs)
        return self._rollouts[slot]

    @torch.no_grad()
    def rollout(self, batch: dict) -> dict:
        """Sample one completion per row and score it (refilling the batch with `dynamic_sampling`), and
        compute the advantages and the old/reference log-probs. Returns the tensors `compute_loss` needs
        plus the rollout statistics. With dynamic sampling it may hold fewer rows than `batch`; when it kept
        no group it holds the first row with its completion masked out, so that the step's loss is 0
        with a graph through a real forward pass (as DDP needs)."""
        spec, t0 = self.spec, time.perf_counter()
        kept = self.sample(batch)
        rounds = [kept]
        if spec.dynamic_sampling:
            kept, rounds = self.dynamic_sample(kept)
        groups = len(kept["texts"]) // spec.group_size
        if not groups:
            kept = take_rows(rounds[0], [0])
            kept["completion_mask"] = torch.zeros_like(kept["completion_mask"])
        rollout = {k: kept[k] for k in ("prompt_ids", "prompt_mask", "inputs", "completion_ids", "completion_mask")}
        advantages = group_advantages(kept["rewards"], spec.group_size, scale=spec.scale_rewards) if groups \
            else torch.zeros(1)
        rollout["advantages"] = advantages.to(kept["completion_ids"].device)
        rollout["old_logps"] = self.token_logps(self.model, rollout) if spec.iterations > 1 and groups else None
        rollout["ref_logps"] = self.reference_logps(rollout) if spec.beta > 0 and groups else None
        rollout["stats"] = self.rollout_stats(rounds, groups, t0)
        rollout["texts"] = [t for r in rounds for t in r["texts"]]
        return rollout

    @torch.no_grad()
    def sample(self, batch: dict) -> dict:
        """One generation round: a completion per row of `batch` (a collated, placed `GroupCollator` batch),
        scored. Returns the rows' prompt, inputs, completion and mask, rewards, scores, texts."""
        spec, tok = self.spec, self.processing_class
        model = self.accelerator.unwrap_model(self.model)
        core = model.get_base_model() if is_peft_model(model) else model
        inputs = {k: batch[k] for k in batch["input_keys"]}
        t0 = time.perf_counter()
        core.eval()
        completion = sample_completions(core, {"input_ids": batch["input_ids"],
                                               "attention_mask": batch["attention_mask"], **inputs},
                                        spec.max_new_tokens, spec.temperature, tok.pad_token_id, tok.eos_token_id)
        policy_mode(self.model)
        t_generate = time.perf_counter() - t0
        is_eos = completion == tok.eos_token_id
        first_eos = torch.where(is_eos.any(1), is_eos.int().argmax(1), completion.shape[1])  # (N,)
        mask = (torch.arange(completion.shape[1], device=completion.device)[None] <= first_eos[:, None]).long()

        prefix = THINK_PREFIX if spec.think else ""
        texts = [prefix + tok.decode(row[:n], skip_special_tokens=True).strip()
                 for row, n in zip(completion.tolist(), mask.sum(1).tolist())]
        rewards, scores = self.score(texts, batch["references"])
        return {"prompt_ids": batch["input_ids"], "prompt_mask": batch["attention_mask"], "inputs": inputs,
                "input_keys": batch["input_keys"], "input_counts": batch["input_counts"], "completion_ids": completion,
                "completion_mask": mask,
                "rewards": rewards, "scores": scores, "texts": texts, "time_generate": t_generate}

    def dynamic_sample(self, first: dict) -> tuple[dict, list[dict]]:
        """DAPO's dynamic sampling: keep the groups of round `first` whose rewards differ, and refill the batch
        with groups for further prompts, a round at a time, until it has its B groups again or
        `max_sampling_rounds` rounds were generated. Returns the kept rows (maybe fewer groups, or none)
        and every round generated."""
        group = self.spec.group_size
        want = len(first["texts"]) // group
        rounds, kept = [first], [take_rows(first, varied_rows(first["rewards"], group))]
        while len(rounds) < self.spec.max_sampling_rounds:
            missing = want - sum(len(k["texts"]) for k in kept) // group
            if missing <= 0:
                break
            rounds.append(self.sample(self.draw_prompts(missing)))
            kept.append(take_rows(rounds[-1], varied_rows(rounds[-1]["rewards"], group)))
        return concat_rows(kept, self.processing_class.pad_token_id), rounds

    def draw_prompts(self, n: int) -> dict:
        """`n` more prompts for dynamic sampling, collated into groups and placed on the device. They come
        from the trainer's own endless shuffled passes over the training prompts, seeded from `train.seed`
        apart from the main sampler's order and from other processes' (a resumed run starts them afresh)."""
        if self._refill is None:
            seed = self.args.seed + 2 ** 32 * (1 + self.args.process_index)  # train.seed < 2**32
            self._refill = shuffled_forever(len(self.train_dataset), seed)
        items = [self.train_dataset[next(self._refill)] for _ in range(n)]
        return super()._prepare_inputs(self.data_collator(items))

    def reference_logps(self, rollout: dict) -> torch.Tensor:
        """Completion log-probs under the reference: the frozen copy, or for peft the model, adapters off."""
        if self.reference is not None:
            return self.token_logps(self.reference, rollout)
        with self.accelerator.unwrap_model(self.model).disable_adapter():
            return self.token_logps(self.model, rollout)

    def rollout_stats(self, rounds: list[dict], groups_kept: int, t0: float) -> dict[str, float]:
        """Rewards, well-formed fraction and lengths over every completion generated (all rounds), timings,
        and with dynamic sampling the groups kept and the rounds made."""
        rewards = torch.cat([r["rewards"] for r in rounds])
        scores = {name: torch.cat([r["scores"][name] for r in rounds]) for name in rounds[0]["scores"]}
        lengths = torch.cat([r["completion_mask"].sum(1) for r in rounds])
        stats = {"reward": rewards.mean().item(),
                 "reward_std": rewards.view(-1, self.spec.group_size).std(1, correction=0).mean().item(),
                 **{f"rewards/{name}": v.mean().item() for name, v in scores.items()},
                 "well_formed": (scores["format"] == 1.0).float().mean().item(),
                 "completion_length": lengths.float().mean().item(),
                 "time_generate": sum(r["time_generate"] for r in rounds), "time_rollout": time.perf_counter() - t0}
        if self.spec.dynamic_sampling:
            stats.update(groups_kept=groups_kept, sampling_rounds=len(rounds))
        return stats

    def score(self, texts: list[str], references: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The combined reward of every completion, and each weighted reward's value (plus `format`,
        for the well-formed fraction, graded alone when it has no weight)."""
        extra = {name: reward_registry.get(name) for name in ("format",) if name not in self.reward.weights}
        rows = []
        for t, r in zip(texts, references):
            row = self.reward.scores(t, r)
            row.update({name: reward_registry.checked(name, fn(t, r)) for name, fn in extra.items()})
            rows.append(row)
        rewards = torch.tensor([self.reward.mean(row) for row in rows])
        return rewards, {name: torch.tensor([row[name] for row in rows]) for name in [*self.reward.weights, *extra]}

    def token_logps(self, model, rollout: dict) -> torch.Tensor:
        """Log-probabilities (N, C) of the completion tokens under `model`, at the sampling temperature."""
        completion = rollout["completion_ids"]
        ids = torch.cat([rollout["prompt_ids"], completion], 1)
        mask = torch.cat([rollout["prompt_mask"], rollout["completion_mask"]], 1)
        out = model(input_ids=ids, attention_mask=mask, **rollout["inputs"], use_cache=False,
                    logits_to_keep=completion.shape[1] + 1)
        logits = out.logits[:, :-1].float() / self.spec.temperature  # (N, C, V): position t predicts token t+1
        return logits.gather(-1, completion.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)

    # -- loss and logs ----------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        t0, spec = time.perf_counter(), self.spec
        policy_mode(model)
        logp = self.token_logps(model, inputs)  # (N, C), with grad
        old = inputs["old_logps"] if inputs["old_logps"] is not None else logp.detach()
        tokens = self.dapo_tokens(inputs["completion_mask"]) if spec.loss_type == "dapo" else None
        loss, stats = grpo_loss(logp, old, inputs["ref_logps"], inputs["advantages"], inputs["completion_mask"],
                                spec.beta, spec.epsilon, spec.epsilon_high, spec.loss_type,
                                spec.importance_sampling_level, spec.max_new_tokens, tokens)
        stats = {**inputs["stats"], **stats, "time_loss": time.perf_counter() - t0}
        for key, value in stats.items():
            self._stats[key].append(value)
        if self.log_path is not None and self.is_world_process_zero():
            record = {"step": self.state.global_step + 1, "loss": loss.item(), **stats,
                      "sample": inputs["texts"][0][:300]}
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        return (loss, None) if return_outputs else loss

    def dapo_tokens(self, mask: torch.Tensor) -> torch.Tensor:
        """DAPO's normaliser (TRL's `num_items_in_batch / num_processes`): the completion tokens of the
        micro-batch on all processes, per process, so that their averaged gradients are the token mean.
        A collective, called by every process each micro-batch."""
        tokens = self.accelerator.gather(mask.sum().reshape(1)).sum()
        return tokens.clamp(min=1) / self.accelerator.num_processes

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._stats:  # a training log: add the GRPO statistics since the last one
            logs = {**logs, **{k: sum(v) / len(v) for k, v in self._stats.items()}}
            self._stats.clear()
        super().log(logs, start_time)
