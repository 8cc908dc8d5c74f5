"""Stage 2, instruction tuning: questions and answers about the inputs, loss on the answers only.

Starts from the align stage's model (`train.init_from`); by default trains connectors and the
LLM with the encoders frozen. Per-module freezing is `train.trainable`; LoRA/DoRA is its `lora`
policy value (settings in `train.lora`, see `medmllm/lora.py`), not another recipe.
"""
from __future__ import annotations

from . import RECIPES
from ._trainer import build, save, train

POLICY = {"encoders": "frozen", "connectors": "full", "llm": "full"}


@RECIPES.register("sft")
def sft(cfg, resume: bool = False) -> dict:
    model, processor, data = build(cfg, default_policy=POLICY, resume=resume)
    metrics = train(cfg, model, processor, data, resume=resume)
    save(cfg, model, processor, metrics)
    return metrics
