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
import shutil
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import get_last_checkpoint

from ..build import build_model
from ..config import RunConfig
from ..data.manifest import ManifestDataset, collate, iter_records
from ..engine import Engine
from ..errors import MedMLLMError
from ..model import MedMLLM

POLICIES = ("frozen", "full")


def training_texts(manifests: list[str]) -> list[str]:
    """All conversation text in the training manifests (to train a tiny model's tokenizer)."""
    texts = []
    for m in manifests:
        for _, _, rec in iter_records(m):
            if isinstance(rec, dict):
                texts += [t.get("value", "") for t in rec.get("conversations", []) if isinstance(t, dict)]
    return texts


def build(cfg: RunConfig, default_policy: dict[str, str]):
    """Model, processor and data sets for a stage; the freeze policy applied."""
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    set_seed(cfg.train.seed)
    if not cfg.data.train:
        raise MedMLLMError("config key 'data.train' is empty: name at least one training manifest")
    if cfg.train.init_from:
        engine = Engine.from_pretrained(cfg.train.init_from)
        model, processor = engine.model, engine.processor
    else:
        model, processor = build_model(cfg.model, training_texts(cfg.data.train))
    data = {split: ManifestDataset(paths, processor, cfg.data.max_length, cfg.data.on_error, cfg.data.pack_turns)
            for split, paths in (("train", cfg.data.train), ("eval", cfg.data.eval)) if paths}
    for split, ds in data.items():
        if ds.skipped:
            print(f"{split}: skipped {len(ds.skipped)} bad record(s); first: {ds.skipped[0]}")
    set_trainable(model, {**default_policy, **cfg.train.trainable})
    return model, processor, data


def set_trainable(model: MedMLLM, policy: dict[str, str]) -> None:
    """Apply `frozen`/`full` to `encoders`, `connectors`, `llm` and then to `encoders.<modality>` keys."""
    for key in sorted(policy, key=lambda k: k.count(".")):  # general keys first, specific ones override
        value = policy[key]
        if value not in POLICIES:
            raise MedMLLMError(f"config key 'train.trainable.{key}': {value!r} is not one of {', '.join(POLICIES)}")
        part, _, modality = key.partition(".")
        if part not in ("encoders", "connectors", "llm") or (modality and part == "llm"):
            raise MedMLLMError(f"config key 'train.trainable.{key}': unknown part; use encoders, connectors, llm "
                               "or encoders.<modality>")
        module = getattr(model, part)
        if modality:
            if modality not in module:
                raise MedMLLMError(f"config key 'train.trainable.{key}': the model has no {modality} {part[:-1]}")
            module = module[modality]
        module.requires_grad_(value == "full")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"trainable parameters: {trainable:,} of {sum(p.numel() for p in model.parameters()):,} "
          f"({', '.join(f'{k}={v}' for k, v in policy.items())})")


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


def train(cfg: RunConfig, model: MedMLLM, processor, data: dict, resume: bool = False) -> dict:
    """Run the HF Trainer; returns the train metrics (loss, runtime, samples/s)."""
    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out / "tensorboard")
    checkpoint = get_last_checkpoint(str(out)) if resume else None
    if resume and checkpoint is None:
        raise MedMLLMError(f"{out}: --resume given but there is no checkpoint-* folder to resume from")
    t = cfg.train
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum, num_train_epochs=t.epochs, max_steps=t.max_steps,
        learning_rate=t.learning_rate, weight_decay=t.weight_decay, lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio, logging_steps=t.logging_steps, save_strategy="steps", save_steps=t.save_steps,
        save_total_limit=t.save_total_limit, eval_strategy="epoch" if "eval" in data else "no", seed=t.seed,
        report_to=["tensorboard"], remove_unused_columns=False, dataloader_num_workers=cfg.data.num_workers,
        include_num_input_tokens_seen="non_padding", use_cpu=not torch.cuda.is_available())
    trainer = Trainer(model=model, args=args, train_dataset=data["train"], eval_dataset=data.get("eval"),
                      data_collator=partial(collate, pad_id=processor.tokenizer.pad_token_id),
                      processing_class=processor.tokenizer)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(ProgressWithThroughput())
    result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics = dict(result.metrics)
    metrics["skipped_records"] = sum(len(ds.skipped) for ds in data.values())
    plot_loss(trainer.state.log_history, out / "loss.png")
    tmp = out / ".log_history.json.tmp"
    tmp.write_text(json.dumps(trainer.state.log_history, indent=1))
    os.replace(tmp, out / "log_history.json")
    return metrics


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
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)


def save(cfg: RunConfig, model: MedMLLM, processor, metrics: dict) -> Path:
    """Final model + processor to `<output_dir>/model` (written beside, then renamed into place)."""
    out = Path(cfg.train.output_dir)
    final, tmp = out / "model", out / ".model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "run_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    (tmp / "train_metrics.json").write_text(json.dumps(metrics, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    print(f"saved {final}")
    return final
