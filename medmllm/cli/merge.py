"""`medmllm merge`: fold a LoRA/DoRA adapter into its base checkpoint."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from ..errors import MedMLLMError
from ..files import atomic_folder
from . import app


@app.command()
def merge(adapter_dir: Annotated[Path, typer.Argument(help="An adapter folder (a LoRA/DoRA run's model/).")],
          out_dir: Annotated[Path, typer.Argument(help="Folder for the merged checkpoint.")],
          force: Annotated[bool, typer.Option("--force", help="Replace OUT_DIR if it exists and is not empty.")] = False) -> None:
    """Fold a LoRA/DoRA adapter into its base: a plain medmllm checkpoint (+ processor) that loads without peft."""
    from ..checkpoint import load_pretrained
    from ..lora import ADAPTER_CONFIG, base_of, is_adapter_folder

    if not adapter_dir.is_dir():
        raise MedMLLMError(f"{adapter_dir}: no such folder")
    if not is_adapter_folder(adapter_dir):
        hint = " (it is a full model already)" if (adapter_dir / "config.json").is_file() else ""
        raise MedMLLMError(f"{adapter_dir}: not an adapter folder (no {ADAPTER_CONFIG}){hint}")
    base = base_of(adapter_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MedMLLMError(f"{out_dir}: exists and is not a folder")
    if out_dir.resolve() in (adapter_dir.resolve(), base.resolve()):
        raise MedMLLMError(f"{out_dir}: is the adapter folder or its base; choose another output folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise MedMLLMError(f"{out_dir}: exists and is not empty (use --force to replace it)")
    model, processor = load_pretrained(adapter_dir, merge=True)
    with atomic_folder(out_dir) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        for name in ("run_config.json", "train_metrics.json"):
            if (adapter_dir / name).is_file():
                shutil.copyfile(adapter_dir / name, tmp / name)
        (tmp / "merged_from.json").write_text(json.dumps(
            {"adapter": str(adapter_dir.resolve()), "base": str(base.resolve())}, indent=2))
    print(f"merged {adapter_dir} into {base} -> {out_dir}")
