"""medmllm: build, train, evaluate and serve medical multimodal LLMs (image, CT/MRI volume, ECG).

Importing the package imports nothing heavy: `medmllm.load` and the subpackages (`medmllm.rewards`,
`medmllm.synth`, ...) are imported when first used.
"""
from __future__ import annotations

import importlib

from .version import __version__


def load(folder):
    """Load a saved model folder for inference; returns an `Engine` with `.chat(text, image=, volume=, ecg=)`."""
    from .engine import load as _load

    return _load(folder)


def __getattr__(name: str):
    """`medmllm.rewards`, `medmllm.synth`, ... on first use (a subpackage is imported, never the other way up)."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


__all__ = ["load", "__version__"]
