"""`train.processes`: data-parallel training in local processes (DDP over gloo on this CPU)."""
import json

import pytest

from tiny import tiny_model_dict
from medmllm.config import from_dict, RunConfig
from medmllm.errors import MedMLLMError
from medmllm.recipes import run
from medmllm.synth import synthesize


@pytest.fixture(scope="module")
def xray(tmp_path_factory):
    out = tmp_path_factory.mktemp("medsynth")
    synthesize(out, ["xray"], n=40, seed=3)
    return out


def _cfg(data, out, processes, batch_size, manifest="xray_vqa_train.jsonl", **train):
    model = tiny_model_dict()
    model["encoders"] = {"image": model["encoders"]["image"]}
    model["connectors"] = {"image": model["connectors"]["image"]}
    return from_dict(RunConfig, {"model": model, "data": {"train": [str(data / manifest)], "max_length": 256},
                                 "train": {"stage": "sft", "output_dir": str(out), "batch_size": batch_size,
                                           "learning_rate": 3e-3, "logging_steps": 5, "save_steps": 10,
                                           "max_steps": 20, "processes": processes,
                                           "trainable": {"encoders": "full", "llm": "full"}, **train}})


def _losses(run_dir):
    return [h["loss"] for h in json.loads((run_dir / "log_history.json").read_text()) if "loss" in h]


def test_two_processes_train_as_one_with_their_batches_together(xray, tmp_path):
    """Two processes of 4 samples per step follow the same loss curve as one process of 8 (the same 8
    samples a step, split between them; the gradients averaged; the token mean over both processes'
    answer tokens, as the Trainer counts them), and the run folder is written once: the final model,
    checkpoints with their time budget, the log and the loss plot. (With `loss_weighting: square` each
    process normalises by its own answers' weights, and the curves differ by about 0.3%.)"""
    one = run(_cfg(xray, tmp_path / "one", 1, 8))
    two = run(_cfg(xray, tmp_path / "two", 2, 4, max_minutes=30))
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(a) == len(b) == 4 and a[-1] < a[0]
    assert b == pytest.approx(a, rel=1e-4), (a, b)
    assert two["num_input_tokens_seen"] == one["num_input_tokens_seen"]  # every sample once, in one of them
    for name in ("model/model.safetensors", "model/train_metrics.json", "loss.png", "checkpoint-20/time_budget.json"):
        assert (tmp_path / "two" / name).is_file(), name
    assert not [p for p in (tmp_path / "two").iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_an_error_in_the_processes_is_one_line_and_leaves_no_model(xray, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "r1", "conversations": "not a list"}\n')
    with pytest.raises(MedMLLMError) as e:
        run(_cfg(tmp_path, tmp_path / "run", 2, 4, manifest="bad.jsonl"))
    assert "\n" not in str(e.value) and "bad.jsonl" in str(e.value), str(e.value)
    assert not (tmp_path / "run" / "model").exists()


def test_processes_are_for_align_and_sft():
    with pytest.raises(MedMLLMError, match="config key 'train.processes': .* stages align and sft, not 'grpo'"):
        from_dict(RunConfig, {"train": {"stage": "grpo", "processes": 2}})
    with pytest.raises(MedMLLMError, match="config key 'train.processes'"):
        from_dict(RunConfig, {"train": {"processes": 0}})
