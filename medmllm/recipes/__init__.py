"""Training recipes, one file per stage: `align`, `sft` (later `dpo`, `grpo`). Each reads as
build -> train -> save; what they share (Trainer set-up, freezing, logging) is in `_trainer.py`."""
from ..registry import Registry

RECIPES: Registry = Registry("training stage")

from . import align, sft  # noqa: E402,F401  (registration side effect)


def run(cfg, resume: bool = False):
    """Run the recipe named by `cfg.train.stage`."""
    return RECIPES.get(cfg.train.stage)(cfg, resume=resume)
