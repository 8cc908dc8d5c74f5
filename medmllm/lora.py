"""LoRA / DoRA through peft: the `lora` policy of `train.trainable`, adapter folders, `medmllm merge`.

* Policy -> peft: every `nn.Linear` inside the modules whose policy is `lora` (minus `lm_head` and
  `nn.MultiheadAttention`'s fused output projection) becomes a target, listed by its full name so
  nothing outside those modules is touched; modules whose policy is `full` are peft's
  `modules_to_save` (a trained copy saved with the adapter); `frozen` modules stay frozen.
* An adapter folder (what a run with a `lora` policy saves as `model/`) holds peft's
  `adapter_config.json` + `adapter_model.safetensors` (LoRA weights and the `modules_to_save`
  copies), the processor, and `medmllm_adapter.json`. `base_model_name_or_path` points at the
  base medmllm checkpoint by a path relative to the adapter folder (`../base` when the run
  started from a fresh build; else the `train.init_from` folder); `medmllm_adapter.json` also
  keeps its absolute path, tried when the relative one does not resolve.
* Loading an adapter folder (base + adapter, optionally merged) is `checkpoint.load_pretrained`,
  the one loader for every checkpoint; `medmllm merge` (`cli/merge.py`) saves a merged one.

peft and torch are imported lazily.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MedMLLMError, brief

if TYPE_CHECKING:
    from .config import LoraSpec
    from .model import MedMLLM

ADAPTER_CONFIG = "adapter_config.json"
MEDMLLM_ADAPTER = "medmllm_adapter.json"
ADAPTER_NAME = "default"


def is_adapter_folder(folder: str | Path) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def is_peft_model(model) -> bool:
    """True for a peft `PeftModel` (checked without importing peft)."""
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


# -- policy -> peft ---------------------------------------------------------------------------
def lora_targets(model: "MedMLLM", units: list[str], names: list[str] | None = None) -> list[str]:
    """Full names of the `nn.Linear` layers to adapt inside `units` (e.g. `llm`, `encoders.image`);
    `names` keeps those whose name ends with one of them (`q_proj`, `self_attn.o_proj`)."""
    from torch import nn

    out_emb = model.get_output_embeddings()
    targets, used = [], set()
    for unit in units:
        root = model.get_submodule(unit)
        fused = {f"{n}.out_proj" if n else "out_proj" for n, m in root.named_modules()
                 if isinstance(m, nn.MultiheadAttention)}  # MHA reads out_proj.weight directly
        for name, module in root.named_modules():
            if not isinstance(module, nn.Linear) or name in fused or module is out_emb \
                    or name.split(".")[-1] == "lm_head":
                continue
            full = f"{unit}.{name}" if name else unit
            if names is not None:
                hit = [t for t in names if full == t or full.endswith("." + t)]
                if not hit:
                    continue
                used.update(hit)
            targets.append(full)
    if names is not None and (missing := [t for t in names if t not in used]):
        raise MedMLLMError(f"config key 'train.lora.target_modules': {', '.join(missing)} match(es) no nn.Linear "
                           f"layer inside the lora-policy modules ({', '.join(units)})")
    if not targets:
        raise MedMLLMError(f"config key 'train.trainable': the lora-policy modules ({', '.join(units)}) "
                           "have no nn.Linear layer to adapt")
    return targets


def apply_lora(model: "MedMLLM", units: dict[str, str], spec: "LoraSpec", base: str | Path | None = None):
    """Wrap `model` in a peft model: LoRA/DoRA on the `lora` units, `full` units as modules_to_save,
    everything else frozen. `units` maps `llm` / `encoders.<m>` / `connectors.<m>` to a policy;
    `spec`'s values are checked by the config (`LoraSpec`)."""
    from peft import LoraConfig, get_peft_model

    from torch import nn

    lora_units = [u for u, v in units.items() if v == "lora"]
    full_units = []
    for unit in (u for u, v in units.items() if v == "full"):  # peft copies modules, not containers of them
        module = model.get_submodule(unit)
        full_units += [f"{unit}.{n}" for n, _ in module.named_children()] \
            if isinstance(module, (nn.ModuleList, nn.ModuleDict)) else [unit]
    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, use_dora=spec.use_dora,
                        target_modules=lora_targets(model, lora_units, spec.target_modules),
                        modules_to_save=full_units or None, bias="none")
    if getattr(model, "is_loaded_in_4bit", False):  # QLoRA: norms in fp32, input grads for checkpointing
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model.requires_grad_(False)
    peft_model = get_peft_model(model, config, adapter_name=ADAPTER_NAME)
    # an existing local folder, so peft's save never asks the Hub about it
    peft_model.peft_config[ADAPTER_NAME].base_model_name_or_path = str(Path(base).resolve()) if base else None
    return peft_model


# -- adapter folders ---------------------------------------------------------------------------
def save_adapter(model, folder: str | Path, base: str | Path, final: str | Path | None = None) -> None:
    """Adapter weights (+ modules_to_save) into `folder`, pointing at `base` by a path relative to
    `final` (where `folder` will be renamed to; default `folder` itself)."""
    folder, base = Path(folder), Path(base).resolve()
    rel = os.path.relpath(base, Path(final or folder).resolve())
    config = model.peft_config[ADAPTER_NAME]
    previous, config.base_model_name_or_path = config.base_model_name_or_path, rel
    try:
        model.save_pretrained(folder, save_embedding_layers=False)
    finally:
        config.base_model_name_or_path = previous
    (folder / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
    (folder / MEDMLLM_ADAPTER).write_text(json.dumps(
        {"format": "medmllm peft adapter", "base": rel, "base_absolute": str(base),
         "peft_type": str(config.peft_type.value if hasattr(config.peft_type, "value") else config.peft_type),
         "use_dora": bool(config.use_dora)}, indent=2))


def base_of(folder: str | Path) -> Path:
    """The base checkpoint an adapter folder applies to (relative path first, then the absolute one)."""
    folder = Path(folder)
    try:
        recorded = json.loads((folder / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
        extra = json.loads((folder / MEDMLLM_ADAPTER).read_text()) if (folder / MEDMLLM_ADAPTER).is_file() else {}
    except (OSError, ValueError) as e:
        raise MedMLLMError(f"{folder}: unreadable adapter config ({brief(e)})") from None
    if not recorded:
        raise MedMLLMError(f"{folder}: {ADAPTER_CONFIG} names no base model (base_model_name_or_path)")
    candidates = [Path(os.path.normpath(folder / recorded)), Path(recorded)] + ([Path(extra["base_absolute"])] if extra.get("base_absolute") else [])
    for path in candidates:
        if (path / "config.json").is_file() or is_adapter_folder(path):
            return path
    raise MedMLLMError(f"{folder}: base model '{recorded}' not found (no medmllm checkpoint there; "
                       f"base_model_name_or_path in {ADAPTER_CONFIG} is relative to the adapter folder)")
