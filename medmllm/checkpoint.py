"""One loader for every checkpoint: `load_pretrained(folder) -> (model, processor)`.

A medmllm model folder is either
* a full checkpoint: `config.json` + safetensors weights (`MedMLLM.from_pretrained`), the tokenizer
  and `processor_config.json`; or
* a LoRA/DoRA adapter folder (`adapter_config.json`, what a run with a `lora` policy saves): peft
  adapter weights pointing at a base checkpoint (see `lora.base_of`), which may itself be an
  adapter folder (a LoRA run started from a LoRA run's model); the chain is loaded base first.

`merge=True` folds adapters into the weights (`merge_and_unload`), giving a plain `MedMLLM`;
without it an adapter folder loads as a peft `PeftModel` (trainable with `is_trainable`). The
engine, every recipe (`train.init_from`, a LoRA run's saved base, the DPO reference) and
`medmllm merge` load through here, so a new kind of checkpoint is taught in one place. Nothing
is chosen by folder name, only by the files a folder holds.
"""
from __future__ import annotations

from pathlib import Path

from .data.processor import MedMLLMProcessor
from .errors import MedMLLMError, brief
from .lora import ADAPTER_CONFIG, ADAPTER_NAME, base_of, is_adapter_folder
from .model import MedMLLM


def load_pretrained(folder: str | Path, merge: bool = False, is_trainable: bool = False):
    """A saved medmllm folder (full or adapter) -> (model, processor); see the module docstring."""
    folder = Path(folder)
    if is_adapter_folder(folder):
        return _load_adapter(folder, merge=merge, is_trainable=is_trainable)
    if not (folder / "config.json").is_file():
        raise MedMLLMError(f"{folder}: not a saved medmllm model (no config.json or {ADAPTER_CONFIG})")
    processor = MedMLLMProcessor.from_pretrained(folder)
    return MedMLLM.from_pretrained(folder), processor


def _load_adapter(folder: Path, merge: bool, is_trainable: bool):
    """Base (merged, when it is an adapter itself) + this adapter."""
    from peft import PeftModel

    base = base_of(folder)
    model, base_processor = load_pretrained(base, merge=True)
    try:
        model = PeftModel.from_pretrained(model, str(folder), adapter_name=ADAPTER_NAME, is_trainable=is_trainable)
    except (RuntimeError, ValueError, KeyError) as e:
        raise MedMLLMError(f"{folder}: the adapter does not fit its base {base} ({brief(e)})") from None
    if merge:
        model = model.merge_and_unload()
    has_own = (folder / MedMLLMProcessor.config_name).is_file()
    return model, MedMLLMProcessor.from_pretrained(folder) if has_own else base_processor
