"""Stage 1, alignment: teach the connectors to map encoder features into the LLM's space.

Trains on caption/report pairs (`<image>\\nDescribe ...` -> report) with, by default, only the
connectors trainable (LLaVA's feature-alignment stage). A from-scratch tiny model has no
pretrained encoder or LLM to protect; its config sets `train.trainable` to train them too.
"""
from __future__ import annotations

from . import RECIPES
from ._trainer import build, save, train

POLICY = {"encoders": "frozen", "connectors": "full", "llm": "frozen"}


@RECIPES.register("align")
def align(cfg, resume: bool = False) -> dict:
    model, processor, data = build(cfg, default_policy=POLICY, resume=resume)
    metrics = train(cfg, model, processor, data, resume=resume)
    save(cfg, model, processor, metrics)
    return metrics
