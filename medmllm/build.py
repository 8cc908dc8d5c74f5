"""build_model(cfg) -> (MedMLLM, MedMLLMProcessor): the model and the preprocessing that matches it.

Pretrained parts (hub ids or local folders) are read with `from_pretrained` and copied into a
model built from their configs, so a saved MedMLLM always rebuilds from its own config alone.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable

from transformers import AutoConfig, AutoModel
from transformers.utils import cached_file

from .config import ModelConfig
from .connectors import CONNECTORS
from .data.processor import MedMLLMProcessor, ProcessorSettings, input_fields
from .data.tokenizer import train_tokenizer
from .encoders import ENCODERS
from .errors import FieldError, MedMLLMError
from .llm import add_placeholder_tokens, load_llm, load_tokenizer, tiny_llm_config
from .chat import MODALITIES, PLACEHOLDERS
from .model import MedMLLM, MedMLLMConfig
from .vlm.model import load_vlm, vlm_config
from .vlm.processor import VLMProcessor


def _encoder_specs(cfg: ModelConfig) -> dict[str, dict]:
    specs = {}
    for modality, spec in cfg.encoders.items():  # the modality names are checked by `ModelConfig`
        if spec.name not in ENCODERS:
            raise MedMLLMError(f"config key 'model.encoders.{modality}.name': unknown encoder {spec.name!r}; "
                               f"choose from {', '.join(ENCODERS.names())}")
        if ENCODERS.get(spec.name).modality != modality:
            raise MedMLLMError(f"config key 'model.encoders.{modality}.name': encoder {spec.name!r} takes "
                               f"{ENCODERS.get(spec.name).modality} inputs, not {modality}")
        params = dict(spec.params)
        if spec.pretrained:
            if spec.name != "hf_vision":
                raise MedMLLMError(f"config key 'model.encoders.{modality}.pretrained': only hf_vision loads weights")
            try:
                params["config"] = AutoConfig.from_pretrained(spec.pretrained).to_dict()
            except (OSError, ValueError) as e:
                raise MedMLLMError(f"cannot load encoder config from '{spec.pretrained}': {str(e)[:120]}") from None
        specs[modality] = {"name": spec.name, "params": params}
    return specs


def _connector_specs(cfg: ModelConfig) -> dict[str, dict]:
    specs = {}
    for modality in cfg.encoders:
        spec = cfg.connectors.get(modality)
        name, params = (spec.name, dict(spec.params)) if spec else ("mlp2x_gelu", {})
        if name not in CONNECTORS:
            raise MedMLLMError(f"config key 'model.connectors.{modality}.name': unknown connector {name!r}; "
                               f"choose from {', '.join(CONNECTORS.names())}")
        specs[modality] = {"name": name, "params": params}
    return specs


def build_model(cfg: ModelConfig, texts: Iterable[str] = ()) -> tuple[MedMLLM, MedMLLMProcessor]:
    """Build a MedMLLM (a tiny LLM gets a tokenizer trained on `texts`), or load `cfg.vlm`, a Hugging
    Face VLM, with the processor that feeds it (`medmllm/vlm`)."""
    if cfg.vlm:
        vlm_config(cfg.vlm)  # a supported family, before anything else is read
        tokenizer, image_processor = VLMProcessor.parts(cfg.vlm)
        model = load_vlm(cfg.vlm, load_in_4bit=cfg.vlm_load_in_4bit)
        return model, VLMProcessor.for_model(model, tokenizer, image_processor, cfg.vlm_inputs)
    source = None
    if cfg.llm.pretrained:
        tokenizer = load_tokenizer(cfg.llm.pretrained, cfg.llm.gguf_file)
        source = load_llm(cfg.llm.pretrained, cfg.llm.gguf_file)  # read once: a GGUF file is parsed per call
        text_config = source.config
    else:
        tokenizer = add_placeholder_tokens(train_tokenizer(texts, cfg.llm.tokenizer_vocab))
        text_config = tiny_llm_config(cfg.llm.config, tokenizer)
    config = MedMLLMConfig(text_config=text_config, encoders=_encoder_specs(cfg), connectors=_connector_specs(cfg),
                           placeholder_ids={m: tokenizer.convert_tokens_to_ids(PLACEHOLDERS[m]) for m in MODALITIES})
    try:
        model = MedMLLM(config)
    except (TypeError, ValueError) as e:
        raise MedMLLMError(f"cannot build the model from config 'model': {str(e).splitlines()[0][:200]}") from None
    if source is not None:
        model.llm.load_state_dict(source.state_dict())
        del source
        if len(tokenizer) > model.llm.get_input_embeddings().num_embeddings:
            model.llm.resize_token_embeddings(len(tokenizer))
            model.config.text_config.vocab_size = len(tokenizer)
    for modality, spec in cfg.encoders.items():
        if spec.pretrained:
            model.encoders[modality].load_pretrained(AutoModel.from_pretrained(spec.pretrained))
    return model, MedMLLMProcessor(tokenizer, processor_settings(model, cfg))


def processor_settings(model: MedMLLM, cfg: ModelConfig) -> ProcessorSettings:
    """The preprocessing options from `cfg.preprocess` (image normalisation, when unset, from the pretrained
    image processor, else 0.5) and the input geometry from each encoder's `input_spec()`."""
    options = dataclasses.asdict(cfg.preprocess)  # every option, by field: a new one needs no change here
    image = cfg.encoders.get("image")
    mean, std = _pretrained_norm(image.pretrained if image else None)
    options["image_mean"] = options["image_mean"] or mean
    options["image_std"] = options["image_std"] or std
    geometry = {}
    for modality, encoder in model.encoders.items():
        spec, expected = encoder.input_spec(), input_fields(modality)
        if sorted(spec) != sorted(expected):  # the encoder breaks its contract (encoders/base.py)
            raise TypeError(f"encoder '{cfg.encoders[modality].name}': input_spec() gives "
                            f"{', '.join(sorted(spec)) or 'nothing'}; {modality} encoders must give {', '.join(expected)}")
        geometry.update(spec)
    try:
        return ProcessorSettings(num_tokens={m: model.num_tokens(m) for m in model.encoders}, **options, **geometry)
    except FieldError as e:  # the options alone were checked by the config; here they meet the encoders
        where = f"config key 'model.preprocess.{e.field}'" if e.field.split("[")[0] in options \
            else f"processor setting '{e.field}' (from the encoders and connectors)"
        raise MedMLLMError(f"{where}: {e.why}") from None


def _pretrained_norm(pretrained: str | None) -> tuple[list[float] | None, list[float] | None]:
    """image_mean/std from the pretrained model's preprocessor_config.json, if it has one."""
    if not pretrained:
        return None, None
    path = cached_file(pretrained, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False,
                       _raise_exceptions_for_connection_errors=False)
    if not path:
        return None, None
    data = json.loads(Path(path).read_text())
    return data.get("image_mean"), data.get("image_std")
