"""Shared fixtures: tiny configs for every part, so each test builds a model in well under a second."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny import TINY_ECG, TINY_LLM, TINY_VISION, TINY_VOLUME, tiny_model_dict  # noqa: F401


@pytest.fixture
def tiny_model():
    """(model, processor) with all three encoders and a tokenizer trained on a few sentences."""
    from medmllm.build import build_model
    from medmllm.config import from_dict, ModelConfig

    texts = ["Is there a pleural effusion? yes no", "The heart size is normal. No pneumothorax."] * 20
    return build_model(from_dict(ModelConfig, tiny_model_dict()), texts)
