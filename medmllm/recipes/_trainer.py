"""What the stage recipes share: build the model and data, set the freeze policy, run the HF
Trainer (checkpoints in safetensors, resume, TensorBoard, a progress bar with loss and
throughput), and save the final model with its processor and a loss-curve PNG.

Why the HF `Trainer` and not a hand-written loop: it already gives resumable checkpoints
(optimizer, scheduler, RNG and data order), gradient accumulation with correct token-weighted
loss, TensorBoard, and DDP/FSDP/DeepSpeed through accelerate, which the later multi-process
work needs; our parts plug in as a model, a dataset, a collator and a callback.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_callback import ProgressCallback, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import get_last_checkpoint

from ..build import build_model
from ..config import LoraSpec, RunConfig
from ..data.collate import collate
from ..data.manifest import ManifestDataset
from ..data.records import iter_manifest
from ..checkpoint import load_pretrained
from ..errors import MedMLLMError
from ..files import atomic_folder, atomic_path, atomic_write
from ..llm.loss import POWERS, causal_lm_loss
from ..lora import apply_lora, is_adapter_folder, is_peft_model, save_adapter
from ..model import MedMLLM
from ..threads import adjust as adjust_threads
from ..vlm import family_of
from ._processes import is_main, world_size


def training_texts(manifests: list[str]) -> list[str]:
    """All conversation text in the training manifests (to train a tiny model's tokenizer)."""
    texts = []
    for m in manifests:
        for _, _, rec in iter_manifest(m):
            if isinstance(rec, dict) and isinstance(rec.get("conversations"), list):
                texts += [t["content"] for t in rec["conversations"] if isinstance(t, dict) and isinstance(t["content"], str)]
    return texts


def build(cfg: RunConfig, default_policy: dict[str, str], resume: bool = False, dataset_cls=ManifestDataset):
    """Model, processor and data sets for a stage; the freeze policy applied (a peft model when any
    part is `lora`). A LoRA run from a fresh build (or from an adapter folder, merged) first saves its
    frozen base to `<output_dir>/base`, which the adapters point at and `resume` reloads."""
    adjust_threads(cfg.train.threads)
    set_seed(cfg.train.seed)
    if not cfg.data.train:
        raise MedMLLMError("config key 'data.train' is empty: name at least one training manifest")
    policy = {**default_policy, **cfg.train.trainable}
    base = lora_base(cfg, policy)
    saved_base = base is not None and base == Path(cfg.train.output_dir) / "base"
    if saved_base and resume and (base / "config.json").is_file():
        model, processor = load_pretrained(base)  # the run's own base: adapters in checkpoints apply to it
        saved_base = False
    elif cfg.train.init_from:  # a full model, or an adapter folder merged into its base
        model, processor = load_pretrained(cfg.train.init_from, merge=True)
    else:
        model, processor = build_model(cfg.model, training_texts(cfg.data.train))
    data = {split: dataset_cls(paths, processor, cfg.data.max_length, cfg.data.on_error, cfg.data.pack_turns)
            for split, paths in (("train", cfg.data.train), ("eval", cfg.data.eval)) if paths}
    for split, ds in data.items():
        if ds.skipped and is_main():
            print(f"{split}: skipped {len(ds.skipped)} bad record(s); first: {ds.skipped[0]}")
    if saved_base and is_main():
        _save_folder(base, model, processor)
    model = set_trainable(model, policy, cfg.train.lora, base=base)
    return model, processor, data


def lora_base(cfg: RunConfig, policy: dict[str, str]) -> Path | None:
    """The checkpoint a LoRA run's adapters apply to: `train.init_from` when it is a full model, else
    `<output_dir>/base` (saved by `build`); None when no part is `lora`."""
    return _run_base(cfg) if "lora" in policy.values() else None


def _run_base(cfg: RunConfig) -> Path:
    if cfg.train.init_from and not is_adapter_folder(cfg.train.init_from):
        return Path(cfg.train.init_from)
    return Path(cfg.train.output_dir) / "base"


def _save_folder(final: Path, model, processor) -> None:
    """Model + processor into `final`, written beside it and renamed into place."""
    with atomic_folder(final) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)


def policy_units(model) -> dict[str, tuple[str, ...]]:
    """`train.trainable` units -> the module names they cover: a MedMLLM's own parts (`llm`,
    `encoders.<modality>`, `connectors.<modality>`), or a Hugging Face VLM's from its family."""
    if not isinstance(model, MedMLLM):
        return dict(family_of(model.config.model_type).parts)
    units = {"llm": ("llm",)}
    for part in ("encoders", "connectors"):
        units.update({f"{part}.{m}": (f"{part}.{m}",) for m in getattr(model, part)})
    return units


def set_trainable(model, policy: dict[str, str], lora: LoraSpec | None = None, base=None):
    """Apply `frozen`/`full`/`lora` to `encoders`, `connectors`, `llm` and then to `encoders.<modality>`
    (`connectors.<modality>`) keys, each unit being the modules `policy_units` names (a
    MedMLLM's own parts, or a Hugging Face VLM's by its family); returns the model, wrapped by peft when
    any unit is `lora`. Policies and part names are checked by the config (`TrainConfig`)."""
    covers = policy_units(model)
    units: dict[str, str] = {}
    for key in sorted(policy, key=lambda k: k.count(".")):  # general keys first, specific ones override
        hit = [u for u in covers if u == key or u.startswith(key + ".")]
        part, _, modality = key.partition(".")
        if modality and not hit:
            raise MedMLLMError(f"config key 'train.trainable.{key}': the model has no {modality} {part[:-1]}")
        units.update(dict.fromkeys(hit, policy[key]))
    modules = {name: value for unit, value in units.items() for name in covers[unit]}
    if "lora" in units.values():
        model = apply_lora(model, modules, lora or LoraSpec(), base=base)
    else:
        model.requires_grad_(False)  # a module no unit names (none in a MedMLLM) stays frozen
        for name, value in modules.items():
            model.get_submodule(name).requires_grad_(value == "full")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    extra = ""
    if "lora" in units.values():
        lora = lora or LoraSpec()
        extra = f"; {'DoRA' if lora.use_dora else 'LoRA'} r={lora.r} alpha={lora.alpha:g} dropout={lora.dropout:g}"
    if is_main():
        print(f"trainable parameters: {trainable:,} of {sum(p.numel() for p in model.parameters()):,} "
              f"({', '.join(f'{k}={v}' for k, v in policy.items())}{extra})")
    return model


class TimeBudget(TrainerCallback):
    """Stops training once `seconds` of wall-clock training time are spent (`train.max_minutes`), and runs
    the learning-rate schedule on whichever of steps or time is further along.

    A step-based schedule cannot know how many steps fit in a time budget; here the scheduler's step
    is ``max(step, spent / seconds * max_steps)``, so with `max_steps` out of reach a cosine or linear
    decay (and the warm-up) completes on the clock, and the run ends at its lowest rate. The time
    spent is saved with each checkpoint (`time_budget.json`), so a resumed run continues the budget
    and the schedule where they were; under DDP rank 0's clock is broadcast once a step, so every rank
    sees the same rate and stops at the same step. Only `LambdaLR` schedules (all of transformers'
    named ones) follow the clock; others keep counting steps.
    """

    FILE = "time_budget.json"

    def __init__(self, seconds: float, spent: float = 0.0):
        self.seconds, self.spent, self.elapsed, self.start = seconds, spent, spent, None

    def fraction(self) -> float:
        """Share of the time budget spent, as of the end of the previous step."""
        return min(1.0, self.elapsed / self.seconds)

    def _tick(self, args) -> None:
        elapsed = self.spent + time.perf_counter() - self.start
        if torch.distributed.is_available() and torch.distributed.is_initialized():  # one clock for all ranks
            clock = torch.tensor([elapsed], dtype=torch.float64, device=args.device)
            torch.distributed.broadcast(clock, 0)
            elapsed = float(clock)
        self.elapsed = elapsed

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        self.start, self.elapsed = time.perf_counter(), self.spent
        scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate may wrap it
        if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR) and state.max_steps > 0:
            scheduler.lr_lambdas = [self._on_clock(fn, state.max_steps) for fn in scheduler.lr_lambdas]

    def _on_clock(self, lr_lambda, total_steps: int):
        return lambda step: lr_lambda(max(step, int(self.fraction() * total_steps)))

    def on_step_end(self, args, state, control, **kwargs):
        self._tick(args)
        if self.elapsed >= self.seconds:
            control.should_training_stop = True
        return control

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            atomic_write(folder / self.FILE, json.dumps({"spent_seconds": self.elapsed, "budget_seconds": self.seconds}))

    @classmethod
    def spent_in(cls, checkpoint: str | None) -> float:
        """Seconds of budget a checkpoint had spent (0 without one, or from before budgets were saved)."""
        path = Path(checkpoint) / cls.FILE if checkpoint else None
        if not (path and path.is_file()):
            return 0.0
        try:
            return float(json.loads(path.read_text())["spent_seconds"])
        except (ValueError, KeyError, TypeError) as e:
            raise MedMLLMError(f"{path}: not a time-budget record ({type(e).__name__}); delete it to restart the "
                               "budget") from None


def length_grouped(trainer_cls):
    """`trainer_cls` drawing its batches from transformers' `LengthGroupedSampler` over the data set's
    own `lengths()` (the Trainer's own grouping would load every sample to measure it)."""

    class LengthGrouped(trainer_cls):
        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        lengths=dataset.lengths())

    LengthGrouped.__name__ = LengthGrouped.__qualname__ = f"LengthGrouped{trainer_cls.__name__}"
    return LengthGrouped


class ThreadsPerStep(TrainerCallback):
    """Torch threads for the cores other processes leave free, looked at again every few seconds
    (`medmllm/threads.py`); each log entry records the count then in use (`threads`)."""

    def __init__(self, requested: int):
        self.requested, self.n = requested, 0

    def on_step_begin(self, args, state, control, **kwargs):
        self.n = adjust_threads(self.requested)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.n and state.log_history:
            state.log_history[-1]["threads"] = self.n


class ProgressWithThroughput(ProgressCallback):
    """tqdm bar with the last loss, samples/s and tokens/s (non-padding) as its postfix."""

    def on_train_begin(self, args, state, control, **kwargs):
        super().on_train_begin(args, state, control, **kwargs)
        self.start, self.start_step, self.start_tokens, self.loss = time.perf_counter(), state.global_step, \
            state.num_input_tokens_seen, float("nan")

    def on_step_end(self, args, state, control, **kwargs):
        super().on_step_end(args, state, control, **kwargs)
        if self.training_bar is not None:
            dt = max(time.perf_counter() - self.start, 1e-6)
            steps = state.global_step - self.start_step
            samples = steps * args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
            self.training_bar.set_postfix(loss=f"{self.loss:.3f}", samples_s=f"{samples / dt:.1f}",
                                          tokens_s=f"{(state.num_input_tokens_seen - self.start_tokens) / dt:.0f}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.loss = logs["loss"]


def train(cfg: RunConfig, model: MedMLLM, processor, data: dict, resume: bool = False, trainer_cls=Trainer,
          **trainer_kwargs) -> dict:
    """Run the HF Trainer (or `trainer_cls`, a subclass, given `trainer_kwargs`, e.g. GRPO's); returns the
    train metrics (loss, runtime, samples/s)."""
    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out / "tensorboard")
    checkpoint = get_last_checkpoint(str(out)) if resume else None
    if resume and checkpoint is None:
        raise MedMLLMError(f"{out}: --resume given but there is no checkpoint-* folder to resume from")
    t = cfg.train
    if t.precision == "fp16" and not torch.cuda.is_available():
        raise MedMLLMError("config key 'train.precision': fp16 needs a CUDA GPU (use bf16 or fp32 on a CPU)")
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum, num_train_epochs=t.epochs, max_steps=t.max_steps,
        learning_rate=t.learning_rate, weight_decay=t.weight_decay, lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio, logging_steps=t.logging_steps, save_strategy="steps", save_steps=t.save_steps,
        save_total_limit=t.save_total_limit, eval_strategy="epoch" if "eval" in data else "no", seed=t.seed,
        report_to=["tensorboard"], remove_unused_columns=False, dataloader_num_workers=cfg.data.num_workers,
        include_num_input_tokens_seen="non_padding", use_cpu=not torch.cuda.is_available(), optim=t.optim,
        torch_compile=t.compile, dataloader_persistent_workers=cfg.data.num_workers > 0,
        dataloader_pin_memory=torch.cuda.is_available(), bf16=t.precision == "bf16", fp16=t.precision == "fp16",
        gradient_checkpointing=t.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        # every trainable MedMLLM parameter gets a gradient (tests/test_model.py); a HF VLM may have unused ones
        ddp_find_unused_parameters=False if isinstance(_core(model), MedMLLM) else None)
    core = _core(model)
    if not isinstance(core, MedMLLM) and t.loss_weighting != "token":  # a VLM: weighted from its full logits
        trainer_kwargs.setdefault("compute_loss_func", partial(causal_lm_loss, power=POWERS[t.loss_weighting]))
    if isinstance(core, MedMLLM):
        if t.loss_weighting != "token" and not core._plain_head():
            raise MedMLLMError(f"config key 'train.loss_weighting': {t.loss_weighting!r} needs an LLM whose logits "
                               "are its output layer alone (this one scales or caps them); use token")
        core.answer_head_only, core.turn_weight_power = t.answer_head_only, POWERS[t.loss_weighting]
    trainer_kwargs = {"data_collator": partial(collate, pad_id=processor.tokenizer.pad_token_id), **trainer_kwargs}
    if cfg.data.group_by_length:
        if type(data["train"]) is not ManifestDataset:
            raise MedMLLMError(f"config key 'data.group_by_length': the {cfg.train.stage} stage does not group by "
                               "length (align and sft do)")
        trainer_cls = length_grouped(trainer_cls)
    trainer = trainer_cls(model=model, args=args, train_dataset=data["train"], eval_dataset=data.get("eval"),
                          processing_class=processor.tokenizer, **trainer_kwargs)
    if world_size() > 1:
        same_in_every_process(processor.tokenizer, data["train"])
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(ProgressWithThroughput())
    trainer.add_callback(ThreadsPerStep(cfg.train.threads))
    if cfg.train.max_minutes:
        trainer.add_callback(TimeBudget(cfg.train.max_minutes * 60, spent=TimeBudget.spent_in(checkpoint)))
    result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics = dict(result.metrics)
    metrics["skipped_records"] = sum(len(ds.skipped) for ds in data.values())
    if is_main():
        plot_loss(trainer.state.log_history, out / "loss.png")
        atomic_write(out / "log_history.json", json.dumps(trainer.state.log_history, indent=1))
    return metrics


def _core(model):
    return model.get_base_model() if is_peft_model(model) else model


def same_in_every_process(tokenizer, dataset) -> None:
    """Under DDP every process builds its own tokenizer (a tiny model trains one from the data) and
    packs its own samples; DDP makes the weights equal, not these. Refuse a run where they differ."""
    import hashlib

    vocab = hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest()
    mine = (vocab, len(dataset))
    every = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(every, mine)
    if any(other != mine for other in every):
        raise MedMLLMError(f"training processes built different tokenizers or data sets ({every}); "
                           "run with train.processes 1")


def plot_loss(history: list[dict], path: Path) -> None:
    """Training (and eval) loss against step, written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 4))
    for points, label in ((train, "train"), (evals, "eval")):
        if points:
            ax.plot(*zip(*points), marker="." if len(points) < 50 else None, label=label)
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title(path.parent.name), ax.legend(), ax.grid(alpha=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)


def save(cfg: RunConfig, model: MedMLLM, processor, metrics: dict) -> Path:
    """Final model + processor to `<output_dir>/model` (written beside, then renamed into place);
    a LoRA run saves its adapters only, pointing at its base (see `lora_base`)."""
    final = Path(cfg.train.output_dir) / "model"
    if not is_main():
        return final
    with atomic_folder(final) as tmp:
        if is_peft_model(model):
            save_adapter(model, tmp, _run_base(cfg), final=final)
        else:
            model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "run_config.json").write_text(json.dumps(asdict(cfg), indent=2))
        (tmp / "train_metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"saved {final}")
    return final
