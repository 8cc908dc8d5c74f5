"""One loader for every checkpoint: `load_pretrained(folder) -> (model, processor)`.

A medmllm model folder is either
* a full checkpoint: `config.json` + safetensors weights (`MedMLLM.from_pretrained`), the tokenizer
  and `processor_config.json`; or
* a Hugging Face VLM's (`model.vlm`): its own config, weights, tokenizer and image processor, and
  `medmllm_vlm.json` (`vlm/processor.py`), loaded with `AutoModelForImageTextToText`; or
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
from .vlm.model import load_vlm
from .vlm.processor import VLMProcessor


def load_pretrained(folder: str | Path, merge: bool = False, is_trainable: bool = False):
    """A saved medmllm folder (full or adapter) -> (model, processor); see the module docstring."""
    folder = Path(folder)
    check_folder(folder)
    if is_adapter_folder(folder):
        return _load_adapter(folder, merge=merge, is_trainable=is_trainable)
    processor = load_processor(folder)
    if isinstance(processor, VLMProcessor):
        return load_vlm(folder, key=str(folder)), processor
    return _load_weights(folder), processor


def load_processor(folder: Path) -> MedMLLMProcessor:
    """A model folder's processor: a Hugging Face VLM's (`medmllm_vlm.json`) or a MedMLLM's."""
    return (VLMProcessor if (folder / VLMProcessor.config_name).is_file() else MedMLLMProcessor).from_pretrained(folder)


def check_folder(folder: Path) -> None:
    """The checks made before anything is loaded: a folder, holding an adapter or a config and
    readable safetensors weights (a command can run them before it binds a port or starts work)."""
    if not folder.is_dir():
        raise MedMLLMError(f"{folder}: no such model folder")
    if is_adapter_folder(folder):
        return
    if not (folder / "config.json").is_file():
        raise MedMLLMError(f"{folder}: not a saved medmllm model (no config.json or {ADAPTER_CONFIG})")
    check_weights(folder)


WEIGHTS = ("model.safetensors", "model.safetensors.index.json")


def check_weights(folder: Path) -> None:
    """Safetensors only: a pickled `pytorch_model.bin` is never opened (unpickling runs code); a single
    `model.safetensors` has its header read (safetensors checks it against the file's length), so a
    garbage or truncated file is one line naming it before anything else is loaded."""
    if not any((folder / name).is_file() for name in WEIGHTS):
        pickles = sorted(p.name for p in folder.glob("*.bin"))
        why = f"{', '.join(pickles)} is a pickle, which is never loaded" if pickles else "no model.safetensors"
        raise MedMLLMError(f"{folder}: {why}; save the weights as safetensors")
    single = folder / WEIGHTS[0]
    if single.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(single), framework="pt") as f:
                f.keys()
        except Exception as e:  # SafetensorError, OSError, ...
            raise MedMLLMError(f"{single}: corrupt or truncated safetensors file ({brief(e)})") from None


def _load_weights(folder: Path) -> MedMLLM:
    """`MedMLLM.from_pretrained` on safetensors only; any failure left is one line naming the file."""
    try:
        return MedMLLM.from_pretrained(folder, use_safetensors=True)
    except MedMLLMError:
        raise
    except Exception as e:  # safetensors' own error types, OSError, ValueError, RuntimeError, KeyError
        raise MedMLLMError(f"{folder / WEIGHTS[0]}: corrupt, truncated or mismatched weights "
                           f"({type(e).__name__}: {brief(e)})") from None


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
    has_own = any((folder / cls.config_name).is_file() for cls in (MedMLLMProcessor, VLMProcessor))
    return model, load_processor(folder) if has_own else base_processor
