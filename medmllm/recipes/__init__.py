"""Training recipes, one file per stage: `align`, `sft` (later `dpo`, `grpo`). Each reads as
build -> train -> save; what they share (Trainer set-up, freezing, logging) is in `_trainer.py`."""
from ..registry import Registry

RECIPES: Registry = Registry("training stage")

from ..registry import import_modules  # noqa: E402

import_modules(__name__, __path__)  # each stage file registers itself


def run(cfg, resume: bool = False):
    """Run the recipe named by `cfg.train.stage`."""
    return RECIPES.get(cfg.train.stage)(cfg, resume=resume)
