"""Typed config: YAML + key=value overrides, unknown keys, bad types and out-of-range values named,
shipped YAMLs valid."""
import re
from pathlib import Path

import pytest

from medmllm.config import GRPOSpec, load_config
from medmllm.errors import FieldError, MedMLLMError

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
    ("data.on_error=ignore", "config key 'data.on_error'"),
    ("model.encoders.image.nme=x", "unknown config key 'model.encoders.image.nme'"),
])
def test_bad_keys_and_values_are_named(override, message):
    with pytest.raises(MedMLLMError, match=message):
        load_config(None, [override])


RANGES = [  # (overrides, the whole message after "config key ")
    (["data.max_length=0"], "'data.max_length': 0 must be at least 1"),
    (["data.num_workers=-1"], "'data.num_workers': -1 must be >= 0"),
    (["data.pack_turns=0"], "'data.pack_turns': 0 must be at least 1"),
    (["model.llm.tokenizer_vocab=0"], "'model.llm.tokenizer_vocab': 0 must be at least 1"),
    (["model.encoders.mri.name=vit3d"], "'model.encoders.mri': unknown modality; choose from image, volume, ecg"),
    (["model.connectors.mri.name=pool"], "'model.connectors.mri': unknown modality; choose from image, volume, ecg"),
    (["train.learning_rate=0"], "'train.learning_rate': 0.0 must be positive"),
    (["train.learning_rate=.nan"], "'train.learning_rate': nan must be a finite number"),
    (["train.weight_decay=-0.1"], "'train.weight_decay': -0.1 must be >= 0"),
    (["train.warmup_ratio=1"], "'train.warmup_ratio': 1.0 must be in [0, 1)"),
    (["train.epochs=0"], "'train.epochs': 0.0 must be positive"),
    (["train.epochs=.inf"], "'train.epochs': inf must be a finite number"),
    (["train.max_steps=0"], "'train.max_steps': 0 must be at least 1 (or -1 to train for `epochs`)"),
    (["train.max_minutes=0"], "'train.max_minutes': 0.0 must be positive"),
    (["train.batch_size=0"], "'train.batch_size': 0 must be at least 1"),
    (["train.grad_accum=0"], "'train.grad_accum': 0 must be at least 1"),
    (["train.logging_steps=0"], "'train.logging_steps': 0 must be at least 1"),
    (["train.save_steps=0"], "'train.save_steps': 0 must be at least 1"),
    (["train.save_total_limit=0"], "'train.save_total_limit': 0 must be at least 1"),
    (["train.seed=-1"], "'train.seed': -1 must be in [0, 4294967296)"),
    (["train.threads=-1"], "'train.threads': -1 must be >= 0"),
    (["train.trainable.llm=qlora"], "'train.trainable.llm': 'qlora' is not one of frozen, full, lora"),
    (["train.trainable.vision=full"], "'train.trainable.vision': unknown part; use encoders, connectors, llm, "
                                      "encoders.<modality> or connectors.<modality>"),
    (["train.lora.r=0"], "'train.lora.r': 0 must be at least 1"),
    (["train.lora.alpha=0"], "'train.lora.alpha': 0.0 must be positive"),
    (["train.lora.dropout=1"], "'train.lora.dropout': 1.0 must be in [0, 1)"),
    (["train.lora.target_modules=[]"], "'train.lora.target_modules': [] names no layer"),
    (["train.grpo.group_size=1"], "'train.grpo.group_size': 1 must be at least 2 (advantages compare completions "
                                  "within a group)"),
    (["train.grpo.max_new_tokens=0"], "'train.grpo.max_new_tokens': 0 must be at least 1"),
    (["train.grpo.iterations=0"], "'train.grpo.iterations': 0 must be at least 1"),
    (["train.grpo.temperature=0"], "'train.grpo.temperature': 0.0 must be positive"),
    (["train.grpo.temperature=.nan"], "'train.grpo.temperature': nan must be a finite number"),
    (["train.grpo.epsilon=-0.2"], "'train.grpo.epsilon': -0.2 must be positive"),
    (["train.grpo.beta=-0.01"], "'train.grpo.beta': -0.01 must be >= 0"),
    (["train.grpo.loss_type=ppo"], "'train.grpo.loss_type': 'ppo' is not one of grpo, bnpo, dr_grpo, dapo"),
    (["train.grpo.scale_rewards=std"], "'train.grpo.scale_rewards': 'std' is not one of group, batch, none"),
    (["train.grpo.importance_sampling_level=seq"],
     "'train.grpo.importance_sampling_level': 'seq' is not one of token, sequence"),
    (["train.grpo.epsilon_high=0.1"], ("'train.grpo.epsilon_high': 0.1 must be at least 0.2 (`epsilon`; "
                                       "clip-higher only widens the upper bound)")),
    (["train.grpo.epsilon_high=0"], "'train.grpo.epsilon_high': 0.0 must be at least 0.2"),
    (["train.grpo.epsilon_high=-0.3", "train.grpo.epsilon=0.1"],
     "'train.grpo.epsilon_high': -0.3 must be at least 0.1"),
    (["train.grpo.epsilon_high=.nan"], "'train.grpo.epsilon_high': nan must be a finite number"),
    (["train.grpo.max_sampling_rounds=0"], "'train.grpo.max_sampling_rounds': 0 must be at least 1"),
    (["train.grpo.dynamic_sampling=sometimes"], "'train.grpo.dynamic_sampling': expected bool"),
    (["train.dpo.beta=0"], "'train.dpo.beta': 0.0 must be positive"),
    (["train.dpo.label_smoothing=0.5"], "'train.dpo.label_smoothing': 0.5 must be in [0, 0.5)"),
    (["train.dpo.rpo_alpha=-1"], "'train.dpo.rpo_alpha': -1.0 must be >= 0"),
    (["model.preprocess.hu_window=[240, -160]"], "'model.preprocess.hu_window': [240.0, -160.0]: low must be below high"),
    (["model.preprocess.hu_window=[-160]"], "'model.preprocess.hu_window': [-160.0] must have 2 values [low, high]"),
    (["model.preprocess.hu_window=[.nan, 240]"], "'model.preprocess.hu_window[0]': nan must be a finite number"),
    (["model.preprocess.ecg_rate=0"], "'model.preprocess.ecg_rate': 0 must be positive"),
    (["model.preprocess.ecg_scale=0"], "'model.preprocess.ecg_scale': 0.0 must be positive"),
    (["model.preprocess.ecg_scale=.inf"], "'model.preprocess.ecg_scale': inf must be a finite number"),
    (["model.preprocess.volume_spacing=[1, 1]"], "'model.preprocess.volume_spacing': [1.0, 1.0] must have 3 values"),
    (["model.preprocess.volume_spacing=[1, 0, 1]"], "'model.preprocess.volume_spacing[1]': 0.0 must be positive"),
    (["model.preprocess.image_std=[0.5, 0]"], "'model.preprocess.image_std[1]': 0.0 must be positive"),
    (["model.preprocess.image_mean=[.nan]"], "'model.preprocess.image_mean[0]': nan must be a finite number"),
    (["model.preprocess.image_mean=[]"], "'model.preprocess.image_mean': [] must have one value per channel"),
    (["model.preprocess.image_mean=[0.4, 0.4]", "model.preprocess.image_std=[0.2, 0.2, 0.2]"],
     "'model.preprocess.image_std': 3 values but image_mean has 2"),
    (["model.preprocess.image_window=lungs"], "'model.preprocess.image_window': unknown window 'lungs'; choose from lung"),
]


@pytest.mark.parametrize("overrides,message", RANGES, ids=[" ".join(o) for o, _ in RANGES])
def test_out_of_range_values_are_named(overrides, message):
    with pytest.raises(MedMLLMError, match="^" + re.escape(f"config key {message}")) as e:
        load_config(None, overrides)
    assert "\n" not in str(e.value)


def test_values_in_range_load():
    """The edges of each range, and one value for all channels beside one per channel."""
    cfg = load_config(None, ["train.warmup_ratio=0", "train.max_steps=-1", "train.threads=0", "train.lora.dropout=0",
                             "train.grpo.beta=0", "train.dpo.label_smoothing=0.49", "data.num_workers=0",
                             "model.preprocess.image_mean=[0.5]", "model.preprocess.image_std=[0.2, 0.3, 0.4]",
                             "model.preprocess.image_window=Lung", "model.preprocess.volume_spacing=[2, 1, 1]"])
    assert cfg.model.preprocess.volume_spacing == [2.0, 1.0, 1.0] and cfg.train.grpo.beta == 0.0


def test_a_dataclass_built_in_code_names_its_field():
    with pytest.raises(FieldError, match="'group_size': 1 must be at least 2") as e:
        GRPOSpec(group_size=1)
    assert (e.value.field, isinstance(e.value, MedMLLMError)) == ("group_size", True)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(MedMLLMError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(MedMLLMError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    from medmllm.recipes import RECIPES

    cfg = load_config(path)
    assert cfg.train.stage in RECIPES
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


def test_grpo_variant_switches_are_typed():
    """The RL variants' fields: defaults are plain GRPO; values as TRL's GRPOConfig names them load."""
    g = load_config(None).train.grpo
    assert (g.loss_type, g.scale_rewards, g.epsilon_high, g.importance_sampling_level, g.dynamic_sampling,
            g.max_sampling_rounds) == ("grpo", "group", None, "token", False, 3)
    g = load_config(None, ["train.grpo.loss_type=dapo", "train.grpo.scale_rewards=none", "train.grpo.epsilon_high=0.28",
                           "train.grpo.importance_sampling_level=sequence", "train.grpo.dynamic_sampling=true",
                           "train.grpo.max_sampling_rounds=1", "train.grpo.beta=0"]).train.grpo
    assert (g.loss_type, g.scale_rewards, g.epsilon_high, g.importance_sampling_level, g.dynamic_sampling,
            g.max_sampling_rounds, g.beta) == ("dapo", "none", 0.28, "sequence", True, 1, 0.0)
    g = load_config(None, ["train.grpo.epsilon_high=0.2", "train.grpo.loss_type=dr_grpo"]).train.grpo
    assert g.epsilon_high == g.epsilon == 0.2  # the edge: clip-higher equal to epsilon is symmetric clipping
    assert load_config(None, ["train.grpo.epsilon_high=null"]).train.grpo.epsilon_high is None


def test_training_speed_switches_are_typed():
    """`train.optim`, `train.compile`, `train.answer_head_only`: defaults, and a bad value names its key."""
    import pytest

    from medmllm.config import load_config
    from medmllm.errors import MedMLLMError

    t = load_config(None).train
    assert (t.optim, t.compile, t.answer_head_only) == ("adamw_torch_fused", False, True)
    assert load_config(None, ["train.optim=adamw_torch", "train.compile=true"]).train.compile is True
    for item, key in (("train.optim=sgd", "train.optim"), ("train.compile=2", "train.compile"),
                      ("train.answer_head_only=maybe", "train.answer_head_only")):
        with pytest.raises(MedMLLMError, match=key.replace(".", r"\.")):
            load_config(None, [item])
