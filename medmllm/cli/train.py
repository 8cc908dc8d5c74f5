"""`medmllm train`: one training stage from a YAML config."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app


@app.command()
def train(config: Annotated[Path, typer.Argument(help="YAML run config.")],
          overrides: Annotated[Optional[list[str]], typer.Argument(help="key=value overrides, e.g. train.max_steps=10")] = None,
          resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in train.output_dir.")] = False,
          on_error: Annotated[Optional[str], typer.Option(help="fail or skip bad records (sets data.on_error).")] = None) -> None:
    """Train one stage from a YAML config (`train.stage`: a recipe of medmllm/recipes/, e.g. align, sft, dpo, grpo)."""
    from ..config import load_config
    from ..recipes import run
    from ..recipes._processes import is_main

    cfg = load_config(config, (overrides or []) + ([f"data.on_error={on_error}"] if on_error else []))
    metrics = run(cfg, resume=resume)
    if not is_main():  # one of torchrun's processes: rank 0 reports
        return
    print(f"train loss {metrics.get('train_loss', float('nan')):.4f} in {metrics.get('train_runtime', 0):.1f} s")
    if metrics.get("skipped_records"):
        print(f"skipped {metrics['skipped_records']} bad record(s)")


