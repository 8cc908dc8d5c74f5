"""build_model(cfg) -> (MedMLLM, MedMLLMProcessor): the model and the preprocessing that matches it.

Pretrained parts (hub ids or local folders) are read with `from_pretrained` and copied into a
model built from their configs, so a saved MedMLLM always rebuilds from its own config alone.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from transformers import AutoConfig, AutoModel
from transformers.utils import cached_file

from .config import ModelConfig
from .connectors import CONNECTORS
from .data.processor import MedMLLMProcessor, ProcessorSettings
from .data.io import WINDOW_PRESETS
from .data.tokenizer import train_tokenizer
from .encoders import ENCODERS
from .errors import MedMLLMError
from .llm import add_placeholder_tokens, llm_config, load_llm_weights, load_tokenizer
from .chat import MODALITIES, PLACEHOLDERS
from .model import MedMLLM, MedMLLMConfig


def _encoder_specs(cfg: ModelConfig) -> dict[str, dict]:
    specs = {}
    for modality, spec in cfg.encoders.items():
        if modality not in MODALITIES:
            raise MedMLLMError(f"config key 'model.encoders.{modality}': unknown modality; "
                               f"choose from {', '.join(MODALITIES)}")
        if spec.name not in ENCODERS:
            raise MedMLLMError(f"config key 'model.encoders.{modality}.name': unknown encoder {spec.name!r}; "
                               f"choose from {', '.join(ENCODERS.names())}")
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
    """Build a MedMLLM; a tiny LLM gets a tokenizer trained on `texts`."""
    if cfg.llm.pretrained:
        tokenizer = load_tokenizer(cfg.llm.pretrained)
    else:
        tokenizer = add_placeholder_tokens(train_tokenizer(texts, cfg.llm.tokenizer_vocab))
    text_config = llm_config(cfg.llm.pretrained, cfg.llm.config, tokenizer)
    config = MedMLLMConfig(text_config=text_config, encoders=_encoder_specs(cfg), connectors=_connector_specs(cfg),
                           placeholder_ids={m: tokenizer.convert_tokens_to_ids(PLACEHOLDERS[m]) for m in MODALITIES})
    try:
        model = MedMLLM(config)
    except (TypeError, ValueError) as e:
        raise MedMLLMError(f"cannot build the model from config 'model': {str(e).splitlines()[0][:200]}") from None
    if cfg.llm.pretrained:
        load_llm_weights(model.llm, cfg.llm.pretrained)
        if len(tokenizer) > model.llm.get_input_embeddings().num_embeddings:
            model.llm.resize_token_embeddings(len(tokenizer))
            model.config.text_config.vocab_size = len(tokenizer)
    for modality, spec in cfg.encoders.items():
        if spec.pretrained:
            model.encoders[modality].load_pretrained(AutoModel.from_pretrained(spec.pretrained))
    return model, MedMLLMProcessor(tokenizer, processor_settings(model, cfg))


def processor_settings(model: MedMLLM, cfg: ModelConfig) -> ProcessorSettings:
    """Read the input geometry off the encoders; normalisation from the config or the pretrained processor."""
    if cfg.preprocess.image_window is not None and cfg.preprocess.image_window.lower() not in WINDOW_PRESETS:
        raise MedMLLMError(f"model.preprocess.image_window: unknown window {cfg.preprocess.image_window!r}; "
                           f"choose from {', '.join(WINDOW_PRESETS)}")
    s = ProcessorSettings(num_tokens={m: model.num_tokens(m) for m in model.encoders},
                          hu_window=list(cfg.preprocess.hu_window), ecg_rate=cfg.preprocess.ecg_rate,
                          image_window=cfg.preprocess.image_window, volume_spacing=cfg.preprocess.volume_spacing,
                          ecg_scale=cfg.preprocess.ecg_scale)
    if "image" in model.encoders:
        vc = model.encoders["image"].vision_config
        s.image_size, s.image_channels = getattr(vc, "image_size", 224), getattr(vc, "num_channels", 3)
        mean, std = _pretrained_norm(cfg.encoders["image"].pretrained)
        s.image_mean = cfg.preprocess.image_mean or mean or [0.5] * s.image_channels
        s.image_std = cfg.preprocess.image_std or std or [0.5] * s.image_channels
    if "volume" in model.encoders:
        s.volume_size = list(model.encoders["volume"].img_size)
    if "ecg" in model.encoders:
        enc = model.encoders["ecg"]
        s.ecg_leads, s.ecg_samples = enc.in_channels, enc.img_size[0]
    return s


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
