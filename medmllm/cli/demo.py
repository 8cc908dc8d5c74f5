"""`medmllm demo`: synth -> align -> sft -> eval on a tiny model."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app


@app.command()
def demo(out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/demo"),
         quick: Annotated[bool, typer.Option("--quick", help="A smaller run (about 2 minutes) for tests.")] = False,
         seed: Annotated[int, typer.Option(help="Training seed of both stages (weights, order); the data "
                                                "stay MedSynth seed 0.", min=0, max=2**32 - 1)] = 0) -> None:
    """synth -> align -> sft -> eval -> sample answers, on MedSynth chest X-rays with a tiny model."""
    from ..demo import run_demo

    run_demo(out, quick=quick, seed=seed)


