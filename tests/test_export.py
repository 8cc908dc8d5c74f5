"""`medmllm export DIR OUT --format hf-llava`: a transformers Llava folder that loads with no medmllm code
(`AutoModelForImageTextToText`, `AutoProcessor`) and computes what our model computes.

One tiny SigLIP + mlp2x_gelu + Llama model is trained once (~10 s) so that its answers depend on the
question; it is compared on 50 MedSynth test questions, with the same inputs (logits, greedy answers)
and end to end through the exported processor from the PNG files. The other towers, connectors and LLMs
are compared untrained (random weights: logits and 8 forced greedy tokens). Each test prints what it
measured (`pytest -s`); docs/serving.md quotes the numbers.
"""
import json
import shutil

import pytest
import torch

from tiny import TINY_LLM, TINY_VISION, run_cli, tiny_model_dict
from medmllm.data.collate import collate
from medmllm.engine import load
from medmllm.synth import synthesize

N = 50       # questions compared
TOL = 1e-4   # max |logit difference| allowed
TINY_CLIP = {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
             "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "num_channels": 3}
TINY_VIT = {"model_type": "vit", "hidden_size": 48, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "num_channels": 1}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: faster for tiny models, and far faster on a shared CPU, where idle OpenMP threads
    spin (training took 90 s instead of 12 s here with two threads while another job ran)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def medsynth(tmp_path_factory):
    out = tmp_path_factory.mktemp("medsynth")
    synthesize(out, ["xray"], n=60, seed=5, split_fractions=(0.6, 0.0, 0.4))
    return out


def _records(data, split="test", n=N):
    records = [json.loads(line) for line in (data / f"xray_vqa_{split}.jsonl").read_text().splitlines()]
    assert len(records) >= n
    return records[:n]


@pytest.fixture(scope="module")
def trained(medsynth, tmp_path_factory):
    """The tiny SigLIP (one channel) + mlp2x_gelu + Llama model, trained 120 steps on MedSynth VQA."""
    from medmllm.config import RunConfig, from_dict
    from medmllm.recipes import run

    out = tmp_path_factory.mktemp("trained")
    run(from_dict(RunConfig, {
        "model": tiny_model_dict(("image",)),
        "data": {"train": [str(medsynth / "xray_vqa_train.jsonl")], "max_length": 256},
        "train": {"stage": "sft", "output_dir": str(out), "batch_size": 16, "learning_rate": 3e-3, "max_steps": 120,
                  "logging_steps": 40, "save_steps": 1000, "trainable": {"encoders": "full", "llm": "full"}}}))
    return out / "model"


def _export(capsys, src, out, *extra):
    code, stdout, err = run_cli(capsys, "export", src, out, "--format", "hf-llava", *extra)
    assert code == 0, err
    return stdout


def _hf(folder, **kwargs):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoModelForImageTextToText.from_pretrained(folder, **kwargs).eval(), AutoProcessor.from_pretrained(folder)


def _rgb(image):
    """Our (n, 1, S, S) grey pixels as the exported three-channel tower takes them."""
    return image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image


def _batch(engine, data, records):
    samples = [engine.sample(r["conversations"][0]["value"], {"image": [data / r["image"]]}) for r in records]
    return samples, collate([{k: v for k, v in s.items() if k != "labels"} for s in samples],
                            engine.processor.tokenizer.pad_token_id, left_pad=True)


@torch.inference_mode()
def _logit_diff(engine, hf, batch):
    """Max |ours - Llava's| over every real (unpadded) position of the batch, on the same ids and pixels."""
    ours = engine.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        image=batch["image"]).logits
    theirs = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                pixel_values=_rgb(batch["image"])).logits
    return (ours - theirs).abs()[batch["attention_mask"].bool()].max().item()


@torch.inference_mode()
def _hf_answers(hf, processor, batch, **gen):
    out = hf.generate(**batch, do_sample=False, **gen)
    new = out[:, batch["input_ids"].shape[1]:]
    return [processor.tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]


def _end_to_end(processor, data, records):
    """The exported processor alone, from the PNG files and OpenAI-style content parts."""
    from PIL import Image

    texts = [processor.apply_chat_template([{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": r["conversations"][0]["value"].replace("<image>\n", "")}]}],
        add_generation_prompt=True) for r in records]
    processor.tokenizer.padding_side = "left"
    return processor(text=texts, images=[Image.open(data / r["image"]) for r in records], return_tensors="pt",
                     padding=True)


def _pixel_gap(processor, e2e, image):
    """Max |exported processor's pixels - ours| before normalising, in 1/255 steps (8-bit levels)."""
    std = torch.tensor(processor.image_processor.image_std).view(1, -1, 1, 1)
    return ((e2e["pixel_values"] - _rgb(image)).abs() * std).max().item() * 255


def _same_prompts(e2e, samples):
    """The exported chat template and processor give our prompt ids, placeholders expanded alike."""
    for i, sample in enumerate(samples):
        assert e2e["input_ids"][i][e2e["attention_mask"][i].bool()].tolist() == sample["input_ids"].tolist()


def test_trained_model_round_trip(trained, medsynth, tmp_path, capsys):
    out = tmp_path / "llava"
    stdout = _export(capsys, trained, out)
    assert "SigLIP tower, mlp2x_gelu connector" in stdout and "note: vLLM's Llava builds a SigLIP tower" in stdout
    engine, (hf, processor) = load(trained), _hf(out)
    assert type(hf).__name__ == "LlavaForConditionalGeneration" and type(processor).__name__ == "LlavaProcessor"
    records = _records(medsynth)
    samples, batch = _batch(engine, medsynth, records)
    diff = _logit_diff(engine, hf, batch)
    assert diff < TOL
    ours = engine.generate(samples, max_new_tokens=24)
    same = _hf_answers(hf, processor, {k: batch[k] for k in ("input_ids", "attention_mask")},
                       pixel_values=_rgb(batch["image"]), max_new_tokens=24)
    assert same == ours
    assert len(set(ours)) >= 3, ours  # trained: answers depend on the question
    correct = sum(a == r["conversations"][1]["value"] for a, r in zip(ours, records))
    # end to end: PNG files through the exported image processor, prompts through its chat template
    e2e = _end_to_end(processor, medsynth, records)
    _same_prompts(e2e, samples)
    pixels = _pixel_gap(processor, e2e, batch["image"])
    assert pixels < 1  # PIL resizes 8-bit pixels and rounds them to 8 bits; ours resizes floats
    e2e_answers = _hf_answers(hf, processor, e2e, max_new_tokens=24)
    with torch.inference_mode():
        e2e_diff = (engine.model(**{k: batch[k] for k in ("input_ids", "attention_mask", "image")}).logits
                    - hf(**e2e).logits).abs()[batch["attention_mask"].bool()].max().item()
    agree = sum(a == b for a, b in zip(e2e_answers, ours))
    assert agree >= N - 3, list(zip(ours, e2e_answers))
    vllm_diff, vllm_agree = _without_final_norm(out, engine, batch, ours)
    print(f"\nexport SigLIP/mlp2x_gelu/llama trained: max|dlogit| {diff:.2e}, answers {N}/{N} "
          f"(ours correct {correct}/{N}); end to end: max|dpixel| {pixels:.2f}/255, max|dlogit| {e2e_diff:.2e}, "
          f"answers {agree}/{N}; without SigLIP's final LayerNorm (vLLM): max|dlogit| {vllm_diff:.2e}, "
          f"answers {vllm_agree}/{N}")


def _without_final_norm(out, engine, batch, ours):
    """What vLLM's Llava computes for a SigLIP tower: hidden_states[-1] before the final LayerNorm."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(out)
    config.vision_config.tie_last_hidden_states = False
    hf, processor = _hf(out, config=config)
    diff = _logit_diff(engine, hf, batch)
    assert diff > 1e-3  # the flag is what makes transformers read the tower as we do
    answers = _hf_answers(hf, processor, {k: batch[k] for k in ("input_ids", "attention_mask")},
                          pixel_values=_rgb(batch["image"]), max_new_tokens=24)
    return diff, sum(a == b for a, b in zip(answers, ours))


def _save_untrained(folder, model_dict, texts):
    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict

    torch.manual_seed(0)
    model, processor = build_model(from_dict(ModelConfig, model_dict), texts)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


@torch.inference_mode()
def _forced_tokens(model, batch, **inputs):
    """8 greedy token ids per question, end-of-text not allowed early (untrained answers would be empty)."""
    out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=8,
                         min_new_tokens=8, do_sample=False, **inputs)
    return out[:, batch["input_ids"].shape[1]:].tolist()


CLIP_NORM = {"image_mean": [0.481, 0.458, 0.408], "image_std": [0.269, 0.261, 0.276]}  # per channel


@pytest.mark.parametrize("tower,connector,llm,preprocess,act", [
    (TINY_VISION, "linear", {}, {}, "relu"),                                  # SigLIP, 1 channel; d_llm 64 = 2 x 32
    (TINY_CLIP, "mlp2x_gelu", {"model_type": "qwen2", "tie_word_embeddings": True}, CLIP_NORM, "gelu"),  # 3 channels
    (TINY_VIT, "linear", {"model_type": "mistral"}, CLIP_NORM, "linear"),     # ViT, 1 channel (the first mean, std)
], ids=["siglip-linear-llama", "clip-mlp2x_gelu-qwen2", "vit-linear-mistral"])
def test_towers_connectors_and_llms(tower, connector, llm, preprocess, act, medsynth, tmp_path, capsys):
    """Untrained; qwen2 with tied embeddings; ViT's d_enc 48 leaves no exact relu form (64 < 2 x 48)."""
    model_dict = tiny_model_dict(("image",))
    model_dict["encoders"]["image"]["params"]["config"] = tower
    model_dict["connectors"]["image"] = {"name": connector}
    model_dict["llm"]["config"] = {**TINY_LLM, **llm}
    model_dict["preprocess"] = preprocess
    records = _records(medsynth)
    texts = [turn["value"] for r in _records(medsynth, "train", 100) for turn in r["conversations"]]
    _save_untrained(tmp_path / "model", model_dict, texts)
    _export(capsys, tmp_path / "model", tmp_path / "llava")
    engine, (hf, processor) = load(tmp_path / "model"), _hf(tmp_path / "llava")
    assert hf.config.projector_hidden_act == act and hf.config.vision_config.num_channels == 3
    samples, batch = _batch(engine, medsynth, records)
    diff = _logit_diff(engine, hf, batch)
    assert diff < TOL
    assert _forced_tokens(hf, batch, pixel_values=_rgb(batch["image"])) == _forced_tokens(engine.model, batch,
                                                                                         image=batch["image"])
    e2e = _end_to_end(processor, medsynth, records)
    _same_prompts(e2e, samples)
    pixels = _pixel_gap(processor, e2e, batch["image"])
    assert pixels < 1
    name = f"{hf.config.vision_config.model_type}/{connector}({act})/{llm.get('model_type', 'llama')}"
    print(f"\nexport {name} untrained: max|dlogit| {diff:.2e}, forced tokens equal {N}/{N}; "
          f"end to end max|dpixel| {pixels:.2f}/255")


def test_lora_adapter_is_merged_first(trained, medsynth, tmp_path, capsys):
    from medmllm.checkpoint import load_pretrained
    from medmllm.config import LoraSpec
    from medmllm.lora import apply_lora, save_adapter

    model, processor = load_pretrained(trained)
    peft = apply_lora(model, {"llm": "lora", "encoders.image": "lora", "connectors.image": "full"},
                      LoraSpec(r=4, alpha=8, dropout=0.0), base=trained)
    torch.manual_seed(1)
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.05)  # an adapter that changes the answers
    (tmp_path / "adapter").mkdir()
    save_adapter(peft, tmp_path / "adapter", trained)
    processor.save_pretrained(tmp_path / "adapter")
    code, _, err = run_cli(capsys, "export", tmp_path / "adapter", trained, "--force")  # its base: never replaced
    assert (code, err) == (2, f"error: {trained}: is the model folder {trained}; choose another output folder\n")
    _export(capsys, tmp_path / "adapter", tmp_path / "llava")
    adapter, base, (hf, hf_processor) = load(tmp_path / "adapter"), load(trained), _hf(tmp_path / "llava")
    assert type(adapter.model).__name__ == "PeftModel"  # compared unmerged: the export merged it
    records = _records(medsynth)
    samples, batch = _batch(adapter, medsynth, records)
    diff = _logit_diff(adapter, hf, batch)
    assert diff < TOL and _logit_diff(base, hf, batch) > 1e-2
    ours = adapter.generate(samples, max_new_tokens=24)
    theirs = _hf_answers(hf, hf_processor, {k: batch[k] for k in ("input_ids", "attention_mask")},
                         pixel_values=_rgb(batch["image"]), max_new_tokens=24)
    assert theirs == ours
    print(f"\nexport LoRA adapter (merged): max|dlogit| {diff:.2e}, answers {N}/{N}")


def _edited(trained, folder, edit):
    """A copy of the trained model folder whose config.json is changed by `edit(config)`."""
    shutil.copytree(trained, folder)
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _add(modality, encoder, params, connector):
    def edit(config):
        config["encoders"][modality] = {"name": encoder, "params": params}
        config["connectors"][modality] = {"name": connector, "params": {"num_tokens": 4}}
    return edit


def _set(path, value):
    def edit(config):
        *keys, last = path
        for key in keys:
            config = config[key]
        config[last] = value
    return edit


@pytest.mark.parametrize("edit,expected", [
    (_add("volume", "vit3d", {}, "resampler"), "hf-llava cannot hold the 'volume' encoder (vit3d); export needs one "
                                               "image encoder (hf_vision: CLIP, SigLIP or ViT)"),
    (_add("ecg", "vit1d", {}, "pool"), "hf-llava cannot hold the 'ecg' encoder (vit1d)"),
    (_set(("connectors", "image"), {"name": "resampler", "params": {"num_tokens": 4}}),
     "hf-llava cannot hold the 'resampler' image connector; export needs"),
    (_set(("connectors", "image"), {"name": "pool", "params": {"num_tokens": 4}}),
     "hf-llava cannot hold the 'pool' image connector"),
    (_set(("encoders", "image", "params", "config"), {"model_type": "resnet", "hidden_sizes": [8, 16]}),
     "hf-llava cannot hold the image encoder's 'resnet' tower (hf_vision)"),
    (_set(("encoders", "image", "params", "config"), {"model_type": "siglip2", "vision_config": {}}),
     "hf-llava cannot hold the image encoder's 'siglip2_vision_model' tower"),
    (_set(("encoders", "image", "params", "config", "num_channels"), 2),
     "hf-llava cannot hold a 2-channel image tower; image processors give grey (1) or RGB (3) images"),
    (_set(("text_config", "model_type"), "gemma"), "hf-llava cannot hold the 'gemma' LLM; export needs"),
    (_set(("connectors", "image", "params"), {"positions": True}), "hf-llava's projector has no position table"),
    (_set(("connectors", "image", "params"), {"regions": 2}), "hf-llava's projector has no region-summary token"),
    (_set(("connectors", "image", "params"), {"order": "columns"}),
     "hf-llava's projector keeps the tower's row-major token order"),
], ids=["volume", "ecg", "resampler", "pool", "resnet", "siglip2", "2-channels", "gemma", "positions", "regions",
        "columns"])
def test_parts_the_format_cannot_hold_are_refused(edit, expected, trained, tmp_path, capsys):
    folder = _edited(trained, tmp_path / "model", edit)
    code, _, err = run_cli(capsys, "export", folder, tmp_path / "out", "--format", "hf-llava")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {folder}: {expected}"), err
    assert not (tmp_path / "out").exists()


def test_out_folder_and_format_are_checked(trained, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    full = tmp_path / "full"
    cases = [((trained, full), f"{full}: exists and is not empty (use --force to replace it)"),
             ((trained, trained, "--force"), f"{trained}: is the model folder {trained}; choose another output folder"),
             ((trained, trained.parent, "--force"),
              f"{trained.parent}: holds the model folder {trained}; choose another output folder"),
             ((trained, tmp_path / "o", "--format", "gguf"), "unknown export format 'gguf'; choose from hf-llava"),
             ((tmp_path / "nothing", tmp_path / "o"), f"{tmp_path / 'nothing'}: no such folder")]
    for args, message in cases:
        code, _, err = run_cli(capsys, "export", *args)
        assert (code, err) == (2, f"error: {message}\n")
    assert not (tmp_path / "o").exists() and (tmp_path / "full" / "x").is_file()


def test_a_failed_export_leaves_nothing(trained, tmp_path, capsys, monkeypatch):
    from transformers import LlavaProcessor

    def fail(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(LlavaProcessor, "save_pretrained", fail)  # after the weights are written
    out = tmp_path / "new" / "llava"
    code, _, err = run_cli(capsys, "export", trained, out)
    assert (code, err) == (1, "error: OSError: disk full\n")
    assert not (tmp_path / "new").exists()  # nor the parent it created
    old = tmp_path / "old"
    old.mkdir()
    (old / "keep").write_text("an earlier export")
    code, _, _ = run_cli(capsys, "export", trained, old, "--force")
    assert code == 1 and [p.name for p in old.iterdir()] == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]  # no temporary folder left beside it
