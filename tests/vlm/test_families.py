"""Each Hugging Face VLM family, tiny and random, built from its config with a processor made here (no
hub), through the whole toolkit: `medmllm train` (SFT with LoRA on MedSynth x-ray VQA), `merge`,
`eval` with the blank-image check, `chat` on a DICOM, one GRPO step and one DPO step."""
import json
import math

import pytest

from tiny import run_cli
from medmllm.synth import synthesize
from medmllm.synth.preferences import write_preferences
from medmllm.vlm import FAMILIES
from medmllm.vlm.scratch import build

SIZES = {"llava": 64, "qwen2_vl": 56, "qwen2_5_vl": 56, "gemma3": 64, "smolvlm": 64}  # Qwen: 4x4 patches of 14 -> 4 tokens


@pytest.fixture(scope="module")
def medsynth(tmp_path_factory):
    out = tmp_path_factory.mktemp("medsynth")
    synthesize(out, ["xray"], n=24, seed=3)
    write_preferences(out)
    return out


def _texts(data):
    return [t["value"] for line in (data / "xray_vqa_train.jsonl").read_text().splitlines()
            for t in json.loads(line)["conversations"]]


@pytest.fixture(scope="module", params=sorted(SIZES))
def trained(request, medsynth, tmp_path_factory):
    """A tiny model of the family, LoRA-tuned (LLM) with the tower and projector trained in full."""
    family, tmp = request.param, tmp_path_factory.mktemp(request.param)
    folder = build(family, tmp / "scratch", _texts(medsynth), image_size=SIZES[family], vocab=400)
    (tmp / "run.yaml").write_text(json.dumps({
        "model": {"vlm": str(folder), "vlm_inputs": {"image_size": SIZES[family]}},
        "data": {"train": [str(medsynth / "xray_vqa_train.jsonl")], "max_length": 256},
        "train": {"stage": "sft", "output_dir": str(tmp / "run"), "batch_size": 8, "learning_rate": 1e-2,
                  "max_steps": 30, "warmup_ratio": 0, "logging_steps": 2, "save_steps": 15,
                  "trainable": {"encoders": "full", "connectors": "full", "llm": "lora"}, "lora": {"r": 8}}}))
    code, _, err = run_cli(None, "train", tmp / "run.yaml")
    assert code == 0, err
    return family, tmp


def test_every_family_has_a_builder():
    assert set(SIZES) <= set(FAMILIES.names())
    assert all(FAMILIES.get(name).scratch for name in FAMILIES.names())


def test_sft_with_lora_learns(trained):
    _, tmp = trained
    losses = [h["loss"] for h in json.loads((tmp / "run" / "log_history.json").read_text()) if "loss" in h]
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses
    model = tmp / "run" / "model"
    assert (model / "adapter_model.safetensors").is_file() and (model / "medmllm_vlm.json").is_file()
    assert json.loads((model / "adapter_config.json").read_text())["modules_to_save"]  # tower and projector, full


def test_merge_eval_and_chat_on_dicom(trained, medsynth, capsys):
    family, tmp = trained
    merged = tmp / "merged"
    code, _, err = run_cli(capsys, "merge", tmp / "run" / "model", merged)
    assert code == 0, err
    assert json.loads((merged / "config.json").read_text())["model_type"] == family
    assert not (merged / "adapter_config.json").exists()
    code, out, err = run_cli(capsys, "eval", "--model", merged, "--data", medsynth / "xray_vqa_test.jsonl",
                             "--limit", "12", "--out", tmp / "eval")
    assert code == 0, err
    task = next(iter(json.loads((tmp / "eval" / "results.json").read_text())["tasks"].values()))
    assert "closed_accuracy" in task["scores"] and "closed_accuracy" in task["blank_scores"]
    code, answer, err = run_cli(capsys, "chat", "Is there a pleural effusion?", "--model", merged,
                                "--image", medsynth / "xray" / "xray-00000.dcm", "--max-new-tokens", "4")
    assert code == 0 and answer.strip(), err


@pytest.mark.parametrize("stage", ["grpo", "dpo"])
def test_one_grpo_and_one_dpo_step(trained, medsynth, stage):
    """From the LoRA run's model (an adapter folder: merged into its base to start), with the policy's
    tower and projector trained in full and the LLM LoRA; the reference is the start model."""
    _, tmp = trained
    manifest = "xray_reason_train.jsonl" if stage == "grpo" else "xray_pref_train.jsonl"
    (tmp / f"{stage}.yaml").write_text(json.dumps({
        "data": {"train": [str(medsynth / manifest)], "max_length": 320},
        "train": {"stage": stage, "init_from": str(tmp / "run" / "model"), "output_dir": str(tmp / stage),
                  "batch_size": 2, "learning_rate": 1e-3, "max_steps": 1, "warmup_ratio": 0, "logging_steps": 1,
                  "trainable": {"encoders": "full", "connectors": "full", "llm": "lora"}, "lora": {"r": 4},
                  "grpo": {"group_size": 2, "max_new_tokens": 8}}}))
    code, _, err = run_cli(None, "train", tmp / f"{stage}.yaml")
    assert code == 0, err
    history = [h for h in json.loads((tmp / stage / "log_history.json").read_text()) if "loss" in h]
    assert len(history) == 1 and math.isfinite(history[0]["loss"])
    if stage == "grpo":  # the rollout ran through the model's own generate() with its pixel inputs
        assert history[0]["completion_length"] >= 1 and history[0]["time_generate"] > 0
    else:
        assert history[0]["rewards/chosen"] == 0.0 and history[0]["loss"] > 0  # policy = reference at step 1
    assert (tmp / stage / "model" / "adapter_model.safetensors").is_file()


def test_loss_weighting_for_a_vlm(medsynth, tmp_path):
    """`train.loss_weighting` weighs a VLM's answer tokens from its own logits: `token` is the model's own
    loss, `square` and `turn` differ from it on packed samples, and a run with `square` learns."""
    import torch

    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict
    from medmllm.data.collate import collate
    from medmllm.data.manifest import ManifestDataset
    from medmllm.llm.loss import causal_lm_loss

    folder = build("llava", tmp_path / "scratch", _texts(medsynth), image_size=32, vocab=300)
    model, proc = build_model(from_dict(ModelConfig, {"vlm": str(folder)}))
    data = ManifestDataset([medsynth / "xray_vqa_train.jsonl", medsynth / "xray_report_train.jsonl"], proc, 512,
                           pack_turns=4)
    batch = collate([data[i] for i in range(4)], proc.tokenizer.pad_token_id)
    with torch.no_grad():
        out = model(**batch)
    assert causal_lm_loss(out, batch["labels"], power=0.0).item() == pytest.approx(out.loss.item(), rel=1e-5)
    assert causal_lm_loss(out, batch["labels"], power=0.5).item() != pytest.approx(out.loss.item(), rel=1e-3)
    (tmp_path / "run.yaml").write_text(json.dumps({
        "model": {"vlm": str(folder)}, "data": {"train": [str(medsynth / "xray_vqa_train.jsonl")], "max_length": 256},
        "train": {"stage": "sft", "output_dir": str(tmp_path / "run"), "batch_size": 8, "learning_rate": 1e-2,
                  "max_steps": 20, "warmup_ratio": 0, "logging_steps": 2, "loss_weighting": "square",
                  "trainable": {"encoders": "full", "connectors": "full", "llm": "full"}}}))
    code, _, err = run_cli(None, "train", tmp_path / "run.yaml")
    assert code == 0, err
    losses = [h["loss"] for h in json.loads((tmp_path / "run" / "log_history.json").read_text()) if "loss" in h]
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses


@pytest.mark.parametrize("tower, tokens", [
    ({"model_type": "focalnet", "embed_dim": 8, "depths": [1, 1], "focal_levels": [2, 2], "focal_windows": [3, 3],
      "use_conv_embed": True, "patch_size": 4}, 16),  # 8 x 8 patches merged once; width 16 from the stages
    ({"model_type": "levit", "hidden_sizes": [16, 16, 16], "num_attention_heads": [2, 2, 2], "depths": [0, 0, 0],
      "key_dim": [8, 8, 8], "mlp_ratio": [2, 2, 2], "attention_ratio": [2, 2, 2],
      "feature_layer": -4}, 4)])  # the convolutional stem: stride 16, 2 x 2 tokens
def test_llava_with_convolutional_towers(medsynth, tmp_path, tower, tokens):
    """LLaVA from scratch takes towers whose hidden states are token sequences but whose layers are
    convolutions (what learns at CPU scale, benchmarks/hf_vlm.md): its projector's width and the tokens
    per image come out right, and the loss reaches the tower's first convolution."""
    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict
    from medmllm.data.collate import collate
    from medmllm.data.manifest import ManifestDataset

    folder = build("llava", tmp_path / "scratch", _texts(medsynth), vision={**tower, "num_channels": 3},
                   image_size=32, vocab=300)
    model, proc = build_model(from_dict(ModelConfig, {"vlm": str(folder)}))
    data = ManifestDataset([medsynth / "xray_vqa_train.jsonl"], proc, 256)
    batch = collate([data[i] for i in range(2)], proc.tokenizer.pad_token_id)
    assert (batch["input_ids"] == model.config.image_token_id).sum().item() == 2 * tokens
    model(**batch).loss.backward()
    first = next(p for n, p in model.model.vision_tower.named_parameters() if p.dim() == 4)  # (out, in, k, k)
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_llava_tower_errors(medsynth, tmp_path):
    """A tower LLaVA cannot read is one line naming the key: layer 0, or hidden states that are maps."""
    from medmllm.errors import MedMLLMError

    with pytest.raises(MedMLLMError, match="'feature_layer': 0"):
        build("llava", tmp_path / "a", _texts(medsynth), vision={"feature_layer": 0}, image_size=32, vocab=300)
    resnet = {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1], "num_channels": 3}
    with pytest.raises(MedMLLMError, match="'resnet'.*not token sequences"):
        build("llava", tmp_path / "b", _texts(medsynth), vision=resnet, image_size=32, vocab=300)
    focal = {"model_type": "focalnet", "embed_dim": 8, "depths": [1, 1], "feature_layer": -9}
    with pytest.raises(MedMLLMError, match="'feature_layer': -9 is not one of the tower's 3 hidden states"):
        build("llava", tmp_path / "c", _texts(medsynth), vision=focal, image_size=32, vocab=300)
    assert not any((tmp_path / n).exists() for n in "abc")
