"""Training recipes, one file per stage: `align`, `sft`, `dpo`, `grpo`. Each reads as
build -> train -> save; what they share (Trainer set-up, freezing, logging) is in `_trainer.py`.
This registry is the list of stages `train.stage` may name (the config cannot import it)."""
from ..errors import MedMLLMError
from ..registry import Registry

RECIPES: Registry = Registry("training stage")

from ..registry import import_modules  # noqa: E402

import_modules(__name__, __path__)  # each stage file registers itself


def run(cfg, resume: bool = False):
    """Run the recipe named by `cfg.train.stage`, in `cfg.train.processes` processes when that is over 1
    (and this is not already one of them)."""
    from ._processes import launch, world_size

    try:
        recipe = RECIPES.get(cfg.train.stage)
    except MedMLLMError as e:
        raise MedMLLMError(f"config key 'train.stage': {e}") from None
    if cfg.train.processes > 1 and world_size() == 1:
        return launch(cfg, resume)
    return recipe(cfg, resume=resume)
