"""Processor: loss on assistant tokens only, placeholder expansion, inputs of every kind, settings saved."""
import re

import numpy as np
import pytest
import torch

from medmllm.data.processor import IGNORE_INDEX, MedMLLMProcessor
from medmllm.errors import MedMLLMError


def test_labels_cover_only_the_answers(tiny_model):
    _, proc = tiny_model
    conv = [{"from": "human", "value": "<image>\nIs there an effusion?"}, {"from": "gpt", "value": "yes"},
            {"from": "human", "value": "Which side?"}, {"from": "gpt", "value": "left"}]
    out = proc.encode(conv)
    ids, labels = out["input_ids"], out["labels"]
    assert len(ids) == len(labels)
    image_id = proc.tokenizer.convert_tokens_to_ids("<image>")
    assert ids.count(image_id) == proc.settings.num_tokens["image"] == 16
    answered = proc.tokenizer.decode([t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX])
    assert answered.replace("<|im_end|>", "|").split() == ["yes|", "left|"]
    assert proc.tokenizer.decode(ids).startswith("<|im_start|>user\n<image>")


def test_generation_prompt_ends_with_assistant_header(tiny_model):
    _, proc = tiny_model
    out = proc.encode([{"role": "user", "content": "<ecg>\nRhythm?"}], generation_prompt=True)
    assert proc.tokenizer.decode(out["input_ids"]).endswith("<|im_start|>assistant\n")
    assert set(out["labels"]) == {IGNORE_INDEX}


def test_inputs_are_shaped_for_the_encoders(tiny_model):
    _, proc = tiny_model
    assert proc.load("image", np.random.rand(50, 70, 3)).shape == (1, 32, 32)
    assert proc.load("volume", np.full((10, 40, 40), 40.0)).shape == (1, 16, 32, 32)
    ecg = proc.load("ecg", np.random.randn(12, 700))
    assert ecg.shape == (12, 1000) and torch.all(ecg[:, 700:] == 0)
    assert proc.blank("image").unique().numel() == 1


def test_placeholder_for_missing_encoder_is_an_error(tiny_model):
    from medmllm.data.processor import ProcessorSettings

    _, proc = tiny_model
    only_image = MedMLLMProcessor(proc.tokenizer, ProcessorSettings(num_tokens={"image": 16}))
    with pytest.raises(MedMLLMError, match="<volume> placeholder but the model has no volume encoder"):
        only_image.encode([{"from": "human", "value": "<volume>\nx"}, {"from": "gpt", "value": "y"}])


def test_settings_round_trip(tiny_model, tmp_path):
    _, proc = tiny_model
    proc.save_pretrained(tmp_path)
    again = MedMLLMProcessor.from_pretrained(tmp_path)
    assert again.settings == proc.settings
    conv = [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]
    assert again.encode(conv) == proc.encode(conv)


# processor_config.json as written before the settings extended the preprocessing dataclass
OLD_SETTINGS = {"num_tokens": {"image": 16, "volume": 4, "ecg": 5}, "image_size": 32, "image_channels": 1,
                "image_mean": [0.5], "image_std": [0.5], "volume_size": [16, 32, 32], "image_window": None,
                "hu_window": [-160.0, 240.0], "volume_spacing": None, "ecg_rate": 500, "ecg_samples": 1000,
                "ecg_leads": 12, "ecg_scale": 1.0}


def test_old_settings_files_load_and_keys_are_unchanged(tiny_model, tmp_path):
    import json

    _, proc = tiny_model
    proc.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert sorted(saved) == sorted(OLD_SETTINGS)
    (tmp_path / "processor_config.json").write_text(json.dumps(OLD_SETTINGS, indent=2))
    old = MedMLLMProcessor.from_pretrained(tmp_path)
    assert {k: getattr(old.settings, k) for k in OLD_SETTINGS} == OLD_SETTINGS
    assert old.settings == proc.settings  # the tiny model's own settings are these


@pytest.mark.parametrize("change,message", [
    ({"hu_window": [240.0, -160.0]}, "'hu_window': [240.0, -160.0]: low must be below high"),
    ({"volume_size": [16, 32]}, "'volume_size': [16, 32] must have 3 values (D, H, W)"),
    ({"image_mean": [0.5, 0.5], "image_channels": 3}, "'image_mean': 2 values for 3 image channels"),
    ({"ecg_lead": 12}, "unexpected keyword argument 'ecg_lead'"),
])
def test_bad_settings_file_is_one_line(tiny_model, tmp_path, change, message):
    import json

    _, proc = tiny_model
    proc.save_pretrained(tmp_path)
    (tmp_path / "processor_config.json").write_text(json.dumps({**OLD_SETTINGS, **change}))
    with pytest.raises(MedMLLMError, match=re.escape(message)) as e:
        MedMLLMProcessor.from_pretrained(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'processor_config.json'}: not valid processor settings")


def test_settings_hold_every_preprocessing_option():
    """One dataclass of options: the settings extend it, so a new option reaches the processor unchanged."""
    from dataclasses import fields

    from medmllm.data.preprocess import PreprocessConfig
    from medmllm.data.processor import ProcessorSettings, input_fields

    options = [f.name for f in fields(PreprocessConfig)]
    assert [f.name for f in fields(ProcessorSettings)][: len(options)] == options
    assert (input_fields("image"), input_fields("volume"), input_fields("ecg")) == \
        (["image_size", "image_channels"], ["volume_size"], ["ecg_leads", "ecg_samples"])
    assert ProcessorSettings(image_channels=1).image_mean == [0.5]
