"""Typed run configuration: one dataclass per section, a docstring per field.

YAML files hold values only; `load_config(path, overrides)` reads one into `RunConfig`,
applies `a.b.c=value` overrides (values parsed as YAML scalars), and checks every key and
type, so a typo fails with the key's dotted name instead of being silently ignored. Each
dataclass checks its values' ranges in `__post_init__` (raising `FieldError` with its field
name; `from_dict` names the full key). What needs a higher layer is checked where it is used:
`train.stage` against the recipe registry (`recipes.run`), encoder and connector names against
theirs (`build`), reward names (the grpo recipe).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .chat import MODALITIES
from .checks import at_least, below, non_negative, one_of, positive

from .errors import FieldError, MedMLLMError
from .data.preprocess import PreprocessConfig, VLMInputs

POLICIES = ("frozen", "full", "lora")
PARTS = ("encoders", "connectors", "llm")


@dataclass
class EncoderSpec:
    name: str = "hf_vision"
    """Registry name of the encoder: `hf_vision` (2D image), `vit3d` (CT/MRI volume), `vit1d` (ECG)."""
    pretrained: str | None = None
    """Hub id or local folder of pretrained weights (`hf_vision` only); None builds from `params`."""
    params: dict = field(default_factory=dict)
    """Constructor parameters; for `hf_vision` a tiny HF config under `config` (with `model_type`)."""


@dataclass
class ConnectorSpec:
    name: str = "mlp2x_gelu"
    """Registry name: `linear`, `mlp2x_gelu`, `resampler` (perceiver) or `pool`."""
    params: dict = field(default_factory=dict)
    """Constructor parameters, e.g. `num_tokens` (M) for `resampler` and `pool`."""


@dataclass
class LLMSpec:
    pretrained: str | None = None
    """Hub id or local folder of a causal LM (and its tokenizer); None builds a tiny one from `config`."""
    gguf_file: str | None = None
    """A GGUF file inside `pretrained` to read the LLM and its tokenizer from (transformers' GGUF support,
    needs the `gguf` package; dequantised to fp32), e.g. SmolLM2-135M from `medmllm fetch smollm2-135m`."""
    config: dict = field(default_factory=dict)
    """Tiny LLM config (with `model_type`, e.g. llama or qwen2) used when `pretrained` is None."""
    tokenizer_vocab: int = 2048
    """Vocabulary size for the tokenizer trained on the training texts when there is no pretrained LLM."""

    def __post_init__(self):
        at_least("tokenizer_vocab", self.tokenizer_vocab, 1)
        if self.gguf_file is not None:
            if not self.pretrained:
                raise FieldError("gguf_file", "needs `pretrained`, the folder or hub id that holds the file")
            if not self.gguf_file.endswith(".gguf") or "/" in self.gguf_file or "\\" in self.gguf_file:
                raise FieldError("gguf_file", f"{self.gguf_file!r} is not a .gguf file name inside `pretrained`")


@dataclass
class ModelConfig:
    vlm: str | None = None
    """Hub id or local folder of a Hugging Face vision-language model (`AutoModelForImageTextToText` with
    its tokenizer, image processor and chat template; the families in `medmllm/vlm/families`: LLaVA,
    Qwen2-VL, Qwen2.5-VL) to train as it is, instead of a MedMLLM composed from `llm`, `encoders` and
    `connectors`, which are then left unset."""
    vlm_inputs: VLMInputs = field(default_factory=VLMInputs)
    """With `vlm`: how images, DICOM windows, CT/MRI volumes (as slices) and ECGs (as paper plots) become
    the model's images (`VLMInputs` in `medmllm/data/preprocess.py`); saved with the model."""
    vlm_load_in_4bit: bool = False
    """With `vlm`: QLoRA, the weights loaded in 4-bit NF4 (bitsandbytes, double quantisation, bf16
    compute) for LoRA adapters to train over; needs a CUDA GPU and the bitsandbytes package."""
    llm: LLMSpec = field(default_factory=LLMSpec)
    """The decoder LLM."""
    encoders: dict[str, EncoderSpec] = field(default_factory=dict)
    """Modality (`image`, `volume`, `ecg`) -> encoder."""
    connectors: dict[str, ConnectorSpec] = field(default_factory=dict)
    """Modality -> connector; a modality without one gets `mlp2x_gelu`."""
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    """Input preprocessing (`medmllm/data/preprocess.py`); saved with the model so inputs always match
    the weights."""

    def __post_init__(self):
        if self.vlm_load_in_4bit and not self.vlm:
            raise FieldError("vlm_load_in_4bit", "is for a Hugging Face VLM (`vlm`)")
        if self.vlm and (self.encoders or self.connectors or self.llm.pretrained or self.llm.config):
            raise FieldError("vlm", "a Hugging Face VLM brings its own LLM, vision tower and projector; leave "
                                    "llm, encoders and connectors unset")
        for part in ("encoders", "connectors"):
            for modality in getattr(self, part):
                if modality not in MODALITIES:
                    raise FieldError(f"{part}.{modality}", f"unknown modality; choose from {', '.join(MODALITIES)}")


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)
    """JSONL manifests to train on (LLaVA `conversations` format)."""
    eval: list[str] = field(default_factory=list)
    """JSONL manifests for the loss on held-out data during training (optional)."""
    max_length: int = 512
    """Longest token sequence; longer samples are cut (never inside an input's placeholder tokens)."""
    on_error: Literal["fail", "skip"] = "fail"
    """What a bad record does: stop with its location (`fail`), or be counted and skipped (`skip`)."""
    num_workers: int = 0
    """DataLoader worker processes decoding files (0: in the training process)."""
    pack_turns: int = 1
    """Pack up to this many records with the same inputs (several questions about one image) into one
    sample, so the image is encoded once for all of them (1: off). Each record sees the image and itself
    only, as alone (`ManifestDataset.process_apart`); with a Hugging Face VLM they are merged as turns
    of one chat instead."""
    group_by_length: bool = False
    """Batch samples of similar token length together (transformers' `LengthGroupedSampler`: shuffled,
    then sorted within mega-batches of 50 batches), which cuts padding. Lengths come from the packing
    pass (`pack_turns` > 1) or one tokenizer pass over the records at start."""

    def __post_init__(self):
        at_least("max_length", self.max_length, 1)
        non_negative("num_workers", self.num_workers)
        at_least("pack_turns", self.pack_turns, 1)


@dataclass
class LoraSpec:
    r: int = 16
    """Rank of the low-rank update added to each adapted layer."""
    alpha: float = 32.0
    """LoRA scaling numerator: the update is multiplied by `alpha / r`."""
    dropout: float = 0.05
    """Dropout on the input of the low-rank branch during training."""
    target_modules: list[str] | None = None
    """Layers to adapt inside the `lora`-policy modules, by name or dotted suffix (`q_proj`,
    `self_attn.o_proj`); None: every `nn.Linear` there except `lm_head`."""
    use_dora: bool = False
    """DoRA (weight-decomposed LoRA, peft's `use_dora`) instead of plain LoRA."""

    def __post_init__(self):
        at_least("r", self.r, 1)
        positive("alpha", self.alpha)
        below("dropout", self.dropout, 0, 1)
        if self.target_modules == []:
            raise FieldError("target_modules", "[] names no layer; list layer names, or null for every nn.Linear")


@dataclass
class GRPOSpec:
    group_size: int = 8
    """G: completions sampled per prompt; advantages are rewards normalised within each group (>= 2)."""
    max_new_tokens: int = 96
    """Longest completion sampled, in tokens (after the `<think>` prefill when `think`)."""
    temperature: float = 1.0
    """Sampling temperature; log-probabilities are taken at the same temperature."""
    beta: float = 0.04
    """KL coefficient to the frozen reference model (`train.init_from` or the initial weights); 0 is the
    KL-free setting of DAPO and Dr. GRPO: no reference model is built and the loss has no KL term."""
    epsilon: float = 0.2
    """Clip range of the probability ratio: policy-gradient terms use clip(ratio, 1-epsilon, 1+epsilon_high)."""
    epsilon_high: float | None = None
    """Upper clip range (DAPO's clip-higher, which recommends 0.28 with `epsilon` 0.2); None is `epsilon`.
    At least `epsilon`: it only lets low-probability tokens with a positive advantage grow further."""
    loss_type: Literal["grpo", "bnpo", "dr_grpo", "dapo"] = "grpo"
    """How token terms are aggregated (TRL's `loss_type`): `grpo` averages each completion's tokens, then
    the completions; `dr_grpo` (Dr. GRPO) sums them over the batch and divides by rows x `max_new_tokens`;
    `bnpo` divides the batch's sum by its completion tokens; `dapo` by the completion tokens of the
    micro-batch on all processes (equal to `bnpo` on one)."""
    scale_rewards: Literal["group", "batch", "none"] = "group"
    """Advantage scaling (TRL's `scale_rewards`): r - group mean divided by the group's reward std (`group`),
    by the std of the whole batch's rewards (`batch`), or not at all (`none`, as Dr. GRPO)."""
    importance_sampling_level: Literal["token", "sequence"] = "token"
    """`token`: one probability ratio per token; `sequence` (GSPO): one per completion, exp of the mean
    token log-ratio, clipped per completion. Only matters off-policy (`iterations` > 1)."""
    dynamic_sampling: bool = False
    """DAPO's dynamic sampling: drop the prompt groups whose rewards are all equal (no gradient) and refill
    the batch with groups generated for further training prompts, for up to `max_sampling_rounds`."""
    max_sampling_rounds: int = 3
    """With `dynamic_sampling`: most generation rounds per batch (the first included); a batch still short
    after them trains on the groups it kept (none: a zero loss)."""
    iterations: int = 1
    """Policy updates (optimiser steps) per generated batch (DeepSeekMath's mu); each batch of prompts
    is reused for this many consecutive steps."""
    rewards: dict[str, float] = field(default_factory=lambda: {"format": 0.2, "closed_match": 0.4, "numeric": 0.2,
                                                                "open_match": 0.2})
    """Reward name (`medmllm.rewards`) -> weight; weights are normalised; the reward of a completion is
    the weighted mean, in [0, 1], against the record's last answer."""
    think: bool = True
    """Start every completion with "<think>" (prefilled) so the model reasons before answering."""

    def __post_init__(self):
        """The reward names and weights are checked by the grpo recipe (`rewards.combine`)."""
        at_least("group_size", self.group_size, 2, " (advantages compare completions within a group)")
        for name in ("max_new_tokens", "iterations", "max_sampling_rounds"):
            at_least(name, getattr(self, name), 1)
        for name in ("temperature", "epsilon"):
            positive(name, getattr(self, name))
        if self.epsilon_high is not None:
            at_least("epsilon_high", self.epsilon_high, self.epsilon, " (`epsilon`; clip-higher only widens "
                     "the upper bound)")
        non_negative("beta", self.beta)


@dataclass
class DPOSpec:
    beta: float = 0.1
    """Strength of the implicit KL penalty to the frozen reference (`train.init_from`): the reward of an
    answer is beta * (policy log-prob - reference log-prob), summed over its tokens."""
    loss: Literal["sigmoid", "ipo"] = "sigmoid"
    """`sigmoid`: DPO's -log sigmoid(beta * margin); `ipo`: IPO's (margin / tokens - 1 / (2 beta))^2 with the
    log-ratios averaged per answer token (as TRL)."""
    label_smoothing: float = 0.0
    """cDPO: the probability (0 to 0.5) that a pair's preference label is flipped (`sigmoid` loss only)."""
    rpo_alpha: float = 0.0
    """RPO (TRL's `rpo_alpha`): add alpha x the chosen answers' mean token NLL, so the chosen reports stay
    likely while the margin grows (plain DPO can lower both); 0 is plain DPO."""

    def __post_init__(self):
        positive("beta", self.beta)
        below("label_smoothing", self.label_smoothing, 0, 0.5)
        non_negative("rpo_alpha", self.rpo_alpha)


@dataclass
class TrainConfig:
    stage: str = "sft"
    """Training stage: a recipe registered in medmllm/recipes/ (align, sft, dpo, grpo): `align` (connector
    on caption/report pairs), `sft` (instruction tuning), `grpo` (reinforcement learning with verifiable
    rewards, see `grpo`) or `dpo` (preference pairs, see `dpo`). Checked against the registry when run."""
    init_from: str | None = None
    """A saved MedMLLM folder to start from (e.g. the align stage's model); None builds from `model`."""
    output_dir: str = "runs/train"
    """Run folder: checkpoints, TensorBoard logs, loss curve, and the final model in `model/`."""
    trainable: dict[str, str] = field(default_factory=dict)
    """Policy, `frozen`, `full` or `lora`, for `encoders`, `connectors`, `llm` or one `encoders.<modality>`
    / `connectors.<modality>`. Unset parts follow the stage: align trains connectors only, sft connectors
    and LLM. With any `lora` the run trains peft adapters (see `lora`) and saves adapters only."""
    lora: LoraSpec = field(default_factory=LoraSpec)
    """LoRA/DoRA settings for the modules whose `trainable` policy is `lora`."""
    grpo: GRPOSpec = field(default_factory=GRPOSpec)
    """GRPO settings (stage `grpo` only): group size, sampling, KL and clip coefficients, loss variant
    (GRPO, Dr. GRPO, DAPO, GSPO), rewards."""
    dpo: DPOSpec = field(default_factory=DPOSpec)
    """DPO settings (stage `dpo` only): beta, loss variant, label smoothing."""
    learning_rate: float = 1e-4
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    lr_scheduler: str = "cosine"
    """transformers scheduler name: cosine, linear, constant, constant_with_warmup, ..."""
    warmup_ratio: float = 0.03
    """Fraction of steps spent warming up the learning rate, in [0, 1)."""
    epochs: float = 1.0
    """Passes over the training data (ignored when `max_steps` > 0)."""
    max_steps: int = -1
    """Stop after this many optimiser steps (-1: use `epochs`)."""
    max_minutes: float | None = None
    """Also stop (and save) after this much wall-clock training time: for comparing stages at equal compute.
    The learning-rate schedule then follows whichever of steps or time is further along, so a cosine
    decays to 0 by the time limit even when `max_steps` is out of reach. Checkpoints record the time
    spent, so a `--resume`d run continues the budget rather than starting it again."""
    batch_size: int = 8
    """Samples per device (per process) per step; the global batch is `batch_size` x `processes` x `grad_accum`."""
    processes: int = 1
    """Data-parallel training processes on this machine (DDP: gloo on a CPU; NCCL on GPUs, untested), started as
    `torchrun --nproc_per_node` would start them (`recipes/_processes.py`); rank 0 writes the run. Stages
    `align` and `sft`. On a CPU, two one-thread processes outrun one two-thread process on a tiny model."""
    grad_accum: int = 1
    """Gradient accumulation steps."""
    seed: int = 0
    """Seed for initialisation, shuffling and dropout."""
    logging_steps: int = 10
    """Log loss and learning rate every this many steps."""
    save_steps: int = 500
    """Checkpoint every this many steps (resumable with `--resume`)."""
    save_total_limit: int = 2
    """Keep at most this many checkpoints."""
    threads: int = 0
    """torch intra-op threads; 0: the cores other processes leave free, looked at again every few
    seconds (`medmllm/threads.py`; `MEDMLLM_THREADS` overrides)."""
    optim: Literal["adamw_torch_fused", "adamw_torch"] = "adamw_torch_fused"
    """Optimizer (transformers' `optim` names): `adamw_torch_fused`, one kernel for all parameters (the
    Trainer's own default with torch >= 2.8; CPU and GPU), or `adamw_torch`, the per-parameter loop."""
    compile: bool = False
    """`torch.compile` the model (the Trainer's `torch_compile`). Off by default: on CPU it took 4 minutes
    to compile the demo model and its steps were no faster (`benchmarks/training.md`)."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Training arithmetic: `fp32`, or mixed precision with `bf16` (autocast; CPUs with it run it, though
    slower than fp32 on this project's machines) or `fp16` (CUDA GPUs only, with loss scaling)."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass instead of keeping them: less memory for
    about a third more compute (the Trainer's `gradient_checkpointing`, non-reentrant)."""
    answer_head_only: bool = True
    """In training steps, apply the LLM's output layer only at positions that have a label (the answer
    tokens) instead of at every position: the same loss, without the (batch, length, vocabulary) logits
    (`MedMLLM._answer_loss`). Off: the LLM's own full-logit loss, as transformers computes it."""
    loss_weighting: Literal["token", "square", "turn"] = "token"
    """How much each answer token counts in the loss (InternVL 2.5's names, `medmllm/llm/loss.py`): `token`,
    the plain mean over answer tokens (a 90-token report outweighs a one-word "yes" 90 to 1); `turn`, every
    answer turn the same (its tokens share its weight, 1/n each); `square`, 1/sqrt(n) per token of an n-token
    answer, between the two."""

    def __post_init__(self):
        self._check_trainable()
        positive("learning_rate", self.learning_rate)
        non_negative("weight_decay", self.weight_decay)
        # below 1: the Trainer reads a warm-up of 1 or more as a step count, not a fraction
        below("warmup_ratio", self.warmup_ratio, 0, 1)
        positive("epochs", self.epochs)
        if self.max_steps != -1:
            at_least("max_steps", self.max_steps, 1, " (or -1 to train for `epochs`)")
        if self.max_minutes is not None:
            positive("max_minutes", self.max_minutes)
        for name in ("batch_size", "grad_accum", "logging_steps", "save_steps", "save_total_limit"):
            at_least(name, getattr(self, name), 1)
        below("seed", self.seed, 0, 2**32)
        non_negative("threads", self.threads)
        at_least("processes", self.processes, 1)
        if self.processes > 1 and self.stage not in ("align", "sft"):
            raise FieldError("processes", f"more than one process is supported for stages align and sft, "
                             f"not {self.stage!r} (its rollouts and pairs run in one process)")

    def _check_trainable(self) -> None:
        """Policies and parts of `trainable`; whether the model has a named modality is checked when it is built."""
        for key, value in self.trainable.items():
            one_of(f"trainable.{key}", value, POLICIES)
            part, _, modality = key.partition(".")
            if part not in PARTS or (modality and part == "llm"):
                raise FieldError(f"trainable.{key}", "unknown part; use encoders, connectors, llm, "
                                 "encoders.<modality> or connectors.<modality>")


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    """What to build (ignored when `train.init_from` names a saved model)."""
    data: DataConfig = field(default_factory=DataConfig)
    """Training data."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation and run folder."""


# -- loading ----------------------------------------------------------------------------------
def _check(tp: Any, value: Any, key: str) -> Any:
    """Convert `value` to the annotated type `tp` or raise naming `key`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise MedMLLMError(f"config key '{key}': expected a mapping, got {value!r}")
        return from_dict(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _check(arg, value, key)
            except MedMLLMError as e:
                errors.append(str(e))
        raise MedMLLMError(errors[0])
    if origin is Literal:
        if value not in args:
            raise MedMLLMError(f"config key '{key}': {value!r} is not one of {', '.join(map(str, args))}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_check(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise MedMLLMError(f"config key '{key}': expected a mapping, got {value!r}")
        return {k: _check(args[1], v, f"{key}.{k}") for k, v in value.items()} if args else dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, str):  # YAML reads `1e-4` (no dot) as a string
        try:
            return tp(value)
        except ValueError:
            pass
    if tp in (int, float, str, bool) and not (isinstance(value, tp) and not (tp is int and isinstance(value, bool))):
        raise MedMLLMError(f"config key '{key}': expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass `cls` from a nested dict, rejecting unknown keys by their dotted name."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names:
            raise MedMLLMError(f"unknown config key '{dotted}'; choose from {', '.join(sorted(names))}")
        kwargs[key] = _check(hints[key], value, dotted)
    try:
        return cls(**kwargs)
    except FieldError as e:  # a range check in `__post_init__`, which knows its field but not the prefix
        raise MedMLLMError(f"config key '{prefix + '.' if prefix else ''}{e.field}': {e.why}") from None


def apply_override(data: dict, item: str) -> None:
    """Set `a.b.c=value` in a nested dict (value parsed as YAML, so `1e-4`, `[1,2]`, `null` work)."""
    if "=" not in item:
        raise MedMLLMError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    node = data
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise MedMLLMError(f"override {item!r}: '{part}' is not a section")
    try:
        node[leaf] = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise MedMLLMError(f"override {key.strip()!r}: value {raw[:40]!r} is not valid YAML "
                           f"({str(e).splitlines()[0]})") from None


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a YAML run config (or start from defaults when `path` is None) and apply overrides."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise MedMLLMError(f"{path}: {'is not a regular file' if path.exists() else 'config file not found'}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as e:
            raise MedMLLMError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save the config as UTF-8") from None
        except RecursionError:
            raise MedMLLMError(f"{path}: not valid YAML (nested too deeply)") from None
        except yaml.YAMLError as e:
            raise MedMLLMError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise MedMLLMError(f"{path}: expected a mapping at the top level")
    for item in overrides:
        apply_override(data, item)
    cfg = from_dict(RunConfig, data)
    base = path.parent if path is not None else Path.cwd()
    cfg.data.train = [_resolve(p, base) for p in cfg.data.train]
    cfg.data.eval = [_resolve(p, base) for p in cfg.data.eval]
    return cfg


def _resolve(p: str, base: Path) -> str:
    """Manifest paths in a config file are relative to the current folder if they exist there, else to the file."""
    return p if Path(p).is_absolute() or Path(p).exists() else str(base / p)


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)
