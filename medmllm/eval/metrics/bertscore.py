"""BERTScore F1 with a configurable, local model (the ``bert-score`` package, imported lazily).

``bertscore(preds, refs, model=..., num_layers=..., idf=...)`` calls ``bert_score.score`` with
``model_type`` = the model (a local BERT-style folder, or a hub id already in the local cache),
``lang=None``, no baseline rescaling, and returns (mean F1, per-sample F1). A prediction with
several references gets the best F1 over them (bert-score's own rule).

The model comes from ``model=``, else the ``MEDMLLM_BERTSCORE_MODEL`` environment variable;
there is no silent default (bert-score's English default, roberta-large, needs a download), so
with neither the metric raises a MedMLLMError the caller reports as "unavailable".  The layer
is ``num_layers``, else bert-score's tuned layer for a model it knows, else the model's last
layer.  Numbers depend on the model, layer and idf setting and are comparable only when all
three are the same: name them with :func:`bertscore_name` (e.g. ``BERTScore-bio_bert-L9``) and
:func:`bertscore_convention` next to the number.
"""
from __future__ import annotations

import os
from pathlib import Path

from ...errors import MedMLLMError
from . import CONVENTIONS, METRICS

ENV = "MEDMLLM_BERTSCORE_MODEL"
UNAVAILABLE = ("bertscore: unavailable (set MEDMLLM_BERTSCORE_MODEL or pass model=, a local BERT-style folder; "
               "the default roberta-large needs a download)")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _import():
    try:
        import bert_score
        from bert_score.utils import model2layers
    except ImportError as e:
        raise MedMLLMError(f"bertscore: unavailable (the bert-score package does not import: {_first_line(e)}; "
                           "pip install bert-score==0.3.13)") from None
    return bert_score, model2layers


def _model(model: str | None) -> str:
    model = model or os.environ.get(ENV) or None
    if not model:
        raise MedMLLMError(UNAVAILABLE)
    return model


def _layers(model: str, num_layers: int | None, known: dict | None = None) -> int:
    """The layer to use: the given one, bert-score's tuned layer for a known model, else the last."""
    if num_layers is not None:
        return int(num_layers)
    if known is not None and model in known:
        return known[model]
    if Path(model).is_dir() and not (Path(model) / "config.json").is_file():
        raise MedMLLMError(f"bertscore: {model}: not a model folder (no config.json)")
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model)
    except Exception as e:  # noqa: BLE001 - any loading problem is the user's folder/id: one line
        raise MedMLLMError(f"bertscore: cannot load the model config from {model} ({_first_line(e)})") from None
    for attr in ("num_hidden_layers", "n_layers", "num_layers"):
        if isinstance(getattr(config, attr, None), int):
            return getattr(config, attr)
    raise MedMLLMError(f"bertscore: {model}: config has no layer count; pass num_layers=")


def bertscore_name(model: str | None = None, num_layers: int | None = None, idf: bool = False) -> str:
    """A report name for the setting, e.g. ``BERTScore-biobert-L9`` (``-idf`` appended with idf)."""
    model = _model(model)
    if num_layers is None:
        try:
            from bert_score.utils import model2layers
        except ImportError:
            model2layers = {}
        num_layers = _layers(model, None, model2layers)
    name = Path(model.rstrip("/\\")).name or model
    return f"BERTScore-{name}-L{num_layers}" + ("-idf" if idf else "")


def bertscore_convention(model: str | None = None, num_layers: int | None = None, idf: bool = False) -> str:
    """CONVENTIONS['bertscore'] with this run's model, layer and idf filled in."""
    model = _model(model)
    name = bertscore_name(model, num_layers, idf)
    layer = name.rsplit("-L", 1)[1].split("-")[0]
    return (f"{name}: bert-score F1 with model {model}, layer {layer}, idf {'on (from the references)' if idf else 'off'}, "
            "no baseline rescaling, max over multiple references; comparable only with the same model, layer and idf")


@METRICS.register("bertscore")
def bertscore(preds: list[str], refs: list[str] | list[list[str]], *, model: str | None = None,
              num_layers: int | None = None, idf: bool = False, batch_size: int = 32) -> tuple[float, list[float]]:
    model = _model(model)
    if len(preds) != len(refs):
        raise MedMLLMError(f"bertscore: {len(preds)} predictions but {len(refs)} references")
    if not preds:
        return float("nan"), []
    if any(not isinstance(r, str) for r in refs):  # bert-score looks at refs[0] only: make all lists
        refs = [[r] if isinstance(r, str) else list(r) for r in refs]
        if any(not r for r in refs):
            raise MedMLLMError("bertscore: a prediction has an empty reference list")
    model = os.path.expanduser(model)
    if (model.startswith((".", "/", "\\")) or model.count("/") > 1 or os.sep != "/" and os.sep in model) \
            and not Path(model).is_dir():  # a path, not a hub id ("org/name")
        raise MedMLLMError(f"bertscore: {model}: no such model folder")
    bert_score, model2layers = _import()
    layers = _layers(model, num_layers, model2layers)
    try:
        _, _, f1 = bert_score.score(list(preds), refs, model_type=model, num_layers=layers, idf=idf,
                                    batch_size=batch_size, lang=None, verbose=False)
    except OverflowError as e:  # the tokenizer has no model_max_length (bert-score truncates to it)
        raise MedMLLMError(f"bertscore: {model}: tokenizer has no usable model_max_length; set it in "
                           f"tokenizer_config.json ({_first_line(e)})") from None
    except (OSError, ValueError, KeyError, AssertionError, RuntimeError, TypeError) as e:
        raise MedMLLMError(f"bertscore: cannot load or run the model {model} ({_first_line(e)})") from None
    per = [float(x) for x in f1.tolist()]
    return sum(per) / len(per), per


bertscore.name = bertscore_name
bertscore.convention = bertscore_convention

CONVENTIONS["bertscore"] = (
    "BERTScore F1 (bert-score 0.3.13, lang=None) with the given model (model= or $MEDMLLM_BERTSCORE_MODEL; "
    "named by bertscore_name(), e.g. BERTScore-<folder>-L<layer>), layer num_layers (default: bert-score's "
    "tuned layer for models it knows, else the model's last), idf off unless idf=True, no baseline rescaling, "
    "max over multiple references; numbers are comparable only with the same model, layer and idf")
