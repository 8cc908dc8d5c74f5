"""medmllm: build, train, evaluate and serve medical multimodal LLMs (image, CT/MRI volume, ECG)."""
from __future__ import annotations

__version__ = "0.1.0"
from . import rewards  # noqa: E402,F401  (GRPO rewards by name: medmllm.rewards.get("format"); no torch)


def load(folder):
    """Load a saved model folder for inference; returns an `Engine` with `.chat(text, image=, volume=, ecg=)`."""
    from .engine import load as _load

    return _load(folder)


__all__ = ["load", "__version__"]
