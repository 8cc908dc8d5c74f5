"""LoRA/DoRA as a `train.trainable` policy: what trains, adapter-only saving, loading, resume, `medmllm merge`."""
import json
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from tiny import run_cli, tiny_model_dict
from medmllm.config import RunConfig, from_dict
from medmllm.data.collate import collate
from medmllm.synth import synthesize
from medmllm.engine import Engine, load
from medmllm.errors import MedMLLMError
from medmllm.recipes import run
from medmllm.recipes._trainer import build, save, train

POLICY = {"encoders": "frozen", "connectors": "full", "llm": "lora"}


@pytest.fixture(scope="module")
def medsynth(tmp_path_factory):
    out = tmp_path_factory.mktemp("medsynth")
    synthesize(out, ["xray"], n=24, seed=0)
    return out


def _cfg(data, out, **train):
    return from_dict(RunConfig, {
        "model": tiny_model_dict(("image",)), "data": {"train": [str(data / "xray_vqa_train.jsonl")], "max_length": 256},
        "train": {"stage": "sft", "output_dir": str(out), "batch_size": 8, "learning_rate": 3e-3,
                  "lr_scheduler": "constant", "warmup_ratio": 0.0, "logging_steps": 1, "save_steps": 4,
                  "trainable": POLICY, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, **train}})


def _questions(engine, data, n=4):
    records = [json.loads(line) for line in (data / "xray_vqa_train.jsonl").read_text().splitlines()[:n]]
    return [engine.sample(r["conversations"][0]["value"], {"image": [data / r["image"]]}) for r in records]


def _answers(engine, data):
    """Greedy answers through `Engine.generate`, and 8 greedy token ids per question (EOS not allowed
    early, so a barely trained model's empty answers still compare something)."""
    samples = _questions(engine, data)
    tok = engine.processor.tokenizer
    batch = collate([{k: v for k, v in s.items() if k != "labels"} for s in samples], tok.pad_token_id, left_pad=True)
    with torch.inference_mode():
        ids = engine.model.generate(**batch, max_new_tokens=8, min_new_tokens=8, do_sample=False,
                                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    tokens = ids[:, batch["input_ids"].shape[1]:].tolist()
    assert all(len(t) == 8 for t in tokens)
    return engine.generate(samples, max_new_tokens=8), tokens


def _logits(engine, data):
    sample = _questions(engine, data, 1)[0]
    with torch.no_grad():
        return engine.model(input_ids=sample["input_ids"][None], image=sample["image"]).logits


@pytest.fixture(scope="module")
def lora_run(medsynth, tmp_path_factory):
    """A LoRA run done by hand (build -> train -> save), keeping the in-memory trained model."""
    out = tmp_path_factory.mktemp("lora") / "run"
    cfg = _cfg(medsynth, out, max_steps=8)
    model, processor, data = build(cfg, default_policy=POLICY)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    metrics = train(cfg, model, processor, data)
    save(cfg, model, processor, metrics)
    return {"out": out, "cfg": cfg, "model": model, "processor": processor, "before": before}


def test_only_lora_and_connectors_train(lora_run):
    model, before = lora_run["model"], lora_run["before"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or ".connectors.image.modules_to_save." in n for n in trainable), trainable
    assert any("lora_" in n for n in trainable) and any("modules_to_save" in n for n in trainable)
    assert not any(".encoders." in n for n in trainable)
    for name, p in model.named_parameters():
        changed = not torch.equal(p.detach(), before[name])
        if name in trainable and "lora_B" in name:
            assert changed, name  # B starts at zero: training moved it
        if name not in trainable:
            assert not changed, name  # frozen weights (encoders, LLM base, connector original) untouched


def test_saves_adapters_only_and_loads_the_same(lora_run, medsynth):
    out = lora_run["out"]
    folder, base = out / "model", out / "base"
    assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
    assert not (folder / "model.safetensors").exists() and not (folder / "config.json").exists()
    assert (folder / "processor_config.json").is_file() and (base / "model.safetensors").is_file()
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == "../base"
    with safe_open(folder / "adapter_model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert keys and all("lora_" in k or "connectors.image" in k for k in keys), keys
    assert not any("embed_tokens" in k or "lm_head" in k or "base_layer" in k for k in keys)
    assert (folder / "adapter_model.safetensors").stat().st_size < 0.25 * (base / "model.safetensors").stat().st_size

    trained = Engine(lora_run["model"], lora_run["processor"])
    loaded = load(folder)
    assert type(loaded.model).__name__ == "PeftModel"
    expected = _answers(trained, medsynth)
    assert _answers(loaded, medsynth) == expected
    assert torch.allclose(_logits(loaded, medsynth), _logits(trained, medsynth), atol=1e-5)
    # the adapter matters: the same inputs through the base alone give other logits
    batch = _questions(loaded, medsynth, 1)[0]
    args = {"input_ids": batch["input_ids"][None], "image": batch["image"]}
    with torch.no_grad():
        with_adapter = loaded.model(**args).logits
        with loaded.model.disable_adapter():
            without = loaded.model(**args).logits
    assert not torch.allclose(with_adapter, without, atol=1e-4)


def test_merge_loads_without_peft_and_answers_the_same(lora_run, medsynth, tmp_path, capsys, monkeypatch):
    folder = lora_run["out"] / "model"
    adapter = load(folder)
    adapter_answers, adapter_logits = _answers(adapter, medsynth), _logits(adapter, medsynth)
    code, stdout, err = run_cli(capsys, "merge", folder, tmp_path / "merged")
    assert code == 0, err
    assert (tmp_path / "merged" / "model.safetensors").is_file() and not (tmp_path / "merged" / "adapter_config.json").exists()
    monkeypatch.setitem(sys.modules, "peft", None)  # any `import peft` now fails
    merged = load(tmp_path / "merged")
    assert type(merged.model).__name__ == "MedMLLM"
    assert not any("lora_" in n or "modules_to_save" in n for n, _ in merged.model.named_parameters())
    assert _answers(merged, medsynth) == adapter_answers
    assert torch.allclose(_logits(merged, medsynth), adapter_logits, atol=1e-4)


def test_resume_lora_matches_uninterrupted(lora_run, medsynth, tmp_path):
    src = lora_run["out"]
    out = tmp_path / "run"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("checkpoint-8", "model"))
    cfg = _cfg(medsynth, out, max_steps=8)
    run(cfg, resume=True)
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "loss" in h] == list(range(1, 9))  # 1-4 from checkpoint-4, then 5-8
    with safe_open(src / "model" / "adapter_model.safetensors", "pt") as a, \
            safe_open(out / "model" / "adapter_model.safetensors", "pt") as b:
        assert sorted(a.keys()) == sorted(b.keys())
        for k in a.keys():
            assert torch.allclose(a.get_tensor(k), b.get_tensor(k), atol=1e-5), k


def test_dora_from_init_from_trains_and_merges(lora_run, medsynth, tmp_path, capsys):
    base = lora_run["out"] / "base"
    cfg = _cfg(medsynth, tmp_path / "dora", max_steps=3, init_from=str(base), save_steps=100,
               trainable={"encoders": "frozen", "connectors": "lora", "llm": "lora"},
               lora={"r": 4, "alpha": 8, "dropout": 0.0, "use_dora": True, "target_modules": ["q_proj", "v_proj", "proj.0", "proj.2"]})
    run(cfg)
    folder = tmp_path / "dora" / "model"
    assert not (tmp_path / "dora" / "base").exists()  # init_from is the base
    adapter_cfg = json.loads((folder / "adapter_config.json").read_text())
    assert adapter_cfg["use_dora"] and (folder / adapter_cfg["base_model_name_or_path"] / "config.json").is_file()
    with safe_open(folder / "adapter_model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert any("lora_magnitude_vector" in k for k in keys) and any("connectors.image" in k for k in keys)
    assert not any("k_proj" in k for k in keys)
    adapter = load(folder)
    expected, logits = _answers(adapter, medsynth), _logits(adapter, medsynth)
    code, _, err = run_cli(capsys, "merge", folder, tmp_path / "merged")
    assert code == 0, err
    merged = load(tmp_path / "merged")
    assert _answers(merged, medsynth) == expected
    assert torch.allclose(_logits(merged, medsynth), logits, atol=1e-4)


def test_bad_policy_and_target_one_line_errors(medsynth, tmp_path):
    with pytest.raises(MedMLLMError, match=r"train\.trainable\.llm': 'qlora' is not one of frozen, full, lora"):
        _cfg(medsynth, tmp_path / "bad", max_steps=1, trainable={"llm": "qlora"})  # checked by the config
    cfg = _cfg(medsynth, tmp_path / "bad", max_steps=1, lora={"target_modules": ["nope_proj"]})
    with pytest.raises(MedMLLMError, match=r"train\.lora\.target_modules': nope_proj"):
        build(cfg, default_policy=POLICY)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "medmllm.cli", *map(str, args)], capture_output=True, text=True)


def test_merge_bad_inputs_one_line_errors(lora_run, tmp_path, capsys):
    # a full model is not an adapter folder
    result = _cli("merge", lora_run["out"] / "base", tmp_path / "x")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "not an adapter folder" in lines[0] and "Traceback" not in result.stderr + result.stdout
    # an existing, non-empty output folder is refused without --force
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("x")
    result = _cli("merge", lora_run["out"] / "model", tmp_path / "taken")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "--force" in lines[0], result.stderr
    assert (tmp_path / "taken" / "keep.txt").is_file()
    # a missing base
    moved = tmp_path / "adapter"
    shutil.copytree(lora_run["out"] / "model", moved)
    meta = json.loads((moved / "medmllm_adapter.json").read_text())
    meta["base_absolute"] = str(tmp_path / "gone")
    (moved / "medmllm_adapter.json").write_text(json.dumps(meta))
    code, _, err = run_cli(capsys, "merge", moved, tmp_path / "y")
    assert code == 2 and err.strip().startswith("error:") and "base model '../base' not found" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "y").exists()
