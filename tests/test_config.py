"""Typed config: YAML + key=value overrides, unknown keys and bad types named, shipped YAMLs valid."""
from pathlib import Path

import pytest

from medmllm.config import load_config
from medmllm.errors import MedMLLMError

CONFIGS = Path(__file__).parents[1] / "medmllm" / "configs"


def test_overrides_are_typed(tmp_path):
    cfg = load_config(None, ["train.learning_rate=3e-4", "train.max_steps=5", "data.train=[a.jsonl, b.jsonl]",
                             "model.encoders.image.params.config.hidden_size=48", "train.trainable.llm=frozen"])
    assert cfg.train.learning_rate == 3e-4 and cfg.train.max_steps == 5
    assert len(cfg.data.train) == 2 and cfg.model.encoders["image"].params["config"]["hidden_size"] == 48
    assert cfg.train.trainable == {"llm": "frozen"}


@pytest.mark.parametrize("override,message", [
    ("train.lr=1", "unknown config key 'train.lr'"),
    ("train.max_steps=ten", "config key 'train.max_steps': expected int"),
    ("train.stage=pretrain", "config key 'train.stage': 'pretrain' is not one of align, sft, grpo, dpo"),
    ("data.on_error=ignore", "config key 'data.on_error'"),
    ("model.encoders.image.nme=x", "unknown config key 'model.encoders.image.nme'"),
])
def test_bad_keys_and_values_are_named(override, message):
    with pytest.raises(MedMLLMError, match=message):
        load_config(None, [override])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(MedMLLMError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(MedMLLMError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert cfg.train.stage in ("align", "sft", "grpo", "dpo")
    if cfg.train.stage == "grpo":  # its reward names and weights must resolve
        from medmllm.rewards import combine
        assert combine(cfg.train.grpo.rewards).weights


def test_grpo_section_is_typed():
    cfg = load_config(None, ["train.stage=grpo", "train.grpo.group_size=4", "train.grpo.beta=0",
                             "train.grpo.rewards={format: 1, numeric: 3}"])
    g = cfg.train.grpo
    assert (g.group_size, g.beta, g.rewards, g.max_new_tokens, g.think) == (4, 0.0, {"format": 1.0, "numeric": 3.0}, 96, True)
    with pytest.raises(MedMLLMError, match="unknown config key 'train.grpo.gruop_size'"):
        load_config(None, ["train.grpo.gruop_size=4"])
