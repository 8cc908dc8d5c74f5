"""The `medmllm` command: one typed function per subcommand (typer builds the flags from the types).

Every command lives in its own module of this folder, named after it (`train.py` is `medmllm train`,
`data.py` the `medmllm data ...` group), and registers itself on `app` with a decorator: the folder is
the registry. Command modules import their heavy dependencies inside the function, so `--help` is fast.

Every user-facing failure (a bad file, record, config key) is printed as one line naming it,
with a non-zero exit; set MEDMLLM_DEBUG=1 to see the traceback instead.
"""
from __future__ import annotations

import os
import sys

import typer

from ..errors import MedMLLMError
from ..registry import import_modules

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Build, train, evaluate and chat with medical multimodal LLMs.")


def main() -> None:
    import click
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if not os.environ.get("MEDMLLM_DEBUG"):  # library warnings would bury the one-line error
        import warnings

        warnings.filterwarnings("ignore")

    try:
        app(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except MedMLLMError as e:
        _fail(str(e), 2)
    except Exception as e:  # never a traceback for the user; MEDMLLM_DEBUG=1 shows it
        if os.environ.get("MEDMLLM_DEBUG"):
            raise
        msg = str(e).strip().splitlines()
        _fail(f"{type(e).__name__}: {msg[-1] if msg else ''}", 1)


def print_json(obj) -> None:
    """Print one JSON object, strictly: NaN and infinities become null (they are not JSON)."""
    import json
    import math

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    print(json.dumps(clean(obj), allow_nan=False))


def _fail(message: str, code: int) -> None:
    """Close any open progress bar first, so the error is the last line the user sees."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", [])):
        bar.close()
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


import_modules(__name__, __path__)  # each command module registers itself on `app`
