"""Processor: loss on assistant tokens only, placeholder expansion, inputs of every kind, settings saved."""
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
