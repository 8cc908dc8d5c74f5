"""`medmllm eval`: tasks against a local model and an OpenAI-compatible endpoint give the same
result format (and, greedy with the same inputs, the same answers); a killed run resumes."""
import base64
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from medmllm.eval.backends import BACKENDS
from medmllm.eval.evaluate import run
from medmllm.eval.tasks import TASKS, resolve
from tiny import chat_server, run_cli


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """MedSynth chest X-rays and a tiny (untrained) model saved to a folder."""
    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict
    from medmllm.synth import synthesize
    from tiny import tiny_model_dict

    root = tmp_path_factory.mktemp("eval")
    synthesize(root / "data", ["xray"], n=40, seed=3)
    model, processor = build_model(from_dict(ModelConfig, tiny_model_dict(("image",))),
                                   ["Is there a pleural effusion? yes no The heart is normal."] * 20)
    model.save_pretrained(root / "model"), processor.save_pretrained(root / "model")
    return root


def endpoint(engine):
    """A minimal OpenAI-compatible server answering with `engine` (images from data URLs)."""
    from PIL import Image

    def reply(body):
        msg, images, text = body["messages"][-1], [], ""
        for part in msg["content"] if isinstance(msg["content"], list) else [{"type": "text", "text": msg["content"]}]:
            if part["type"] == "image_url":
                raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                images.append(np.asarray(Image.open(io.BytesIO(raw)), dtype=np.float32) / 255.0)
                text += "<image>\n"
            else:
                text += part["text"]
        sample = engine.sample(text, {"image": images} if images else None)
        return engine.generate([sample], max_new_tokens=body["max_tokens"])[0]

    return chat_server(reply)


def test_local_and_endpoint_give_the_same_results(setup):
    local = BACKENDS.get("local")(setup / "model", batch_size=4)
    tasks = [resolve(n, setup / "data") for n in ("medsynth-xray-vqa", "medsynth-xray-report")]
    a = run(local, tasks, setup / "ev_local", limit=6, max_new_tokens=6)
    server = endpoint(local.engine)
    try:
        remote = BACKENDS.get("openai")(f"http://127.0.0.1:{server.server_port}/v1", "tiny", concurrency=2)
        b = run(remote, tasks, setup / "ev_remote", limit=6, max_new_tokens=6)
    finally:
        server.shutdown()
    assert a["tasks"].keys() == b["tasks"].keys() == {"medsynth-xray-vqa", "medsynth-xray-report"}
    for name, entry in a["tasks"].items():
        other = b["tasks"][name]
        assert entry.keys() == other.keys()
        assert entry["split"] == "test" and 0 < entry["n"] == other["n"] <= 6 and entry["conventions"]
        assert entry["scores"] == pytest.approx(other["scores"]) and entry["blank_scores"] == pytest.approx(other["blank_scores"])
    preds = [json.loads(line) for line in (setup / "ev_local" / "predictions.jsonl").read_text().splitlines()]
    remote_preds = [json.loads(line) for line in (setup / "ev_remote" / "predictions.jsonl").read_text().splitlines()]
    assert [p["pred"] for p in preds] == [p["pred"] for p in remote_preds]
    for key in ("model", "fingerprint", "seed", "versions", "config_hash", "medmllm", "created"):
        assert key in a and key in b
    assert (setup / "ev_local" / "results.md").read_text().count("| medsynth-xray-vqa |") >= 4


def test_rerun_uses_the_cache_and_a_killed_run_resumes(setup, tmp_path):
    out = tmp_path / "ev"
    cmd = [sys.executable, "-m", "medmllm.cli", "eval", "--model", setup / "model", "--task", "medsynth-xray-vqa",
           "--data-dir", setup / "data", "--out", out, "--batch-size", "1", "--limit", "24", "--max-new-tokens", "4",
           "--no-blank"]
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "MEDMLLM_DEBUG": ""})
    cache = out / "cache.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(cache.read_text().splitlines())
    assert done >= 5, done
    local = BACKENDS.get("local")(setup / "model", batch_size=4)
    task = resolve("medsynth-xray-vqa", setup / "data")
    results = run(local, [task], out, blank=False, limit=24, max_new_tokens=4)
    n = results["tasks"]["medsynth-xray-vqa"]["n"]
    assert results["cached"] == done and results["generated"] == n - done and n > done
    again = run(local, [task], out, blank=False, limit=24, max_new_tokens=4)
    assert again["generated"] == 0 and again["cached"] == n
    assert again["tasks"] == results["tasks"]


def test_cli_tasks_compare_and_bad_input(setup, capsys, tmp_path):
    code, out, _ = run_cli(capsys, "eval", "tasks")
    assert code == 0 and all(name in out for name in TASKS.names()) and "suite medsynth-xray" in out
    code, out, err = run_cli(capsys, "eval", "--model", setup / "model", "--task", "medsynth-xray-vqa", "--data-dir",
                             setup / "data", "--out", tmp_path / "a", "--limit", "4", "--max-new-tokens", "3")
    assert code == 0, err
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    changed = {**results, "seed": 1}
    changed["tasks"]["medsynth-xray-vqa"]["scores"]["closed_accuracy"] += 0.25
    (tmp_path / "b.json").write_text(json.dumps(changed))
    code, out, _ = run_cli(capsys, "eval", "compare", tmp_path / "a" / "results.json", tmp_path / "b.json")
    assert code == 0 and "seed: 0 -> 1" in out and "+0.250" in out
    code, _, err = run_cli(capsys, "eval", "--model", setup / "model", "--task", "no-such-task", "--data-dir", setup)
    assert code == 2 and "unknown task 'no-such-task'" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "eval", "--model", setup / "model", "--task", "vqa-rad", "--data-dir", setup)
    assert code == 2 and "vqa-rad.jsonl not found" in err
    code, _, err = run_cli(capsys, "eval", "--endpoint", "http://127.0.0.1:9/v1", "--api-model", "x", "--task",
                           "medsynth-xray-vqa", "--data-dir", setup / "data", "--out", tmp_path / "c", "--limit", "1")
    assert code == 2 and "unreachable" in err.strip().splitlines()[-1]


def tiny_llava(folder):
    """A random 2-layer LLaVA with its processor (CLIP vision 32 px, Llama text), saved to `folder`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor, PreTrainedTokenizerFast)
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    bpe.train_from_iterator(["Is there a pleural effusion? yes no"] * 20, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|pad|>", "<image>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    template = ("{% for m in messages %}{{ m['role'] }}: {% for p in m['content'] %}{% if p['type'] == 'image' %}"
                "<image>{% else %}{{ p['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
                "{% if add_generation_prompt %}assistant: {% endif %}")
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|pad|>",
                                  extra_special_tokens={"image_token": "<image>"}, chat_template=template)
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=16, num_additional_image_tokens=1,
                               vision_feature_select_strategy="default", chat_template=template)
    config = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                                        num_attention_heads=2, image_size=32, patch_size=16),
                         text_config=LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1),
                         image_token_id=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-1)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)


def test_transformers_model_from_a_folder(setup, tmp_path):
    tiny_llava(tmp_path / "llava")
    hf = BACKENDS.get("hf")(tmp_path / "llava", batch_size=3)
    task = resolve("medsynth-xray-vqa", setup / "data")
    results = run(hf, [task], tmp_path / "ev", limit=5, max_new_tokens=3)
    entry = results["tasks"]["medsynth-xray-vqa"]
    assert entry["n"] == 5 and "closed_accuracy" in entry["scores"] and "closed_accuracy" in entry["blank_scores"]
    assert results["fingerprint"].startswith("hf:") and results["backend"] == "HFBackend"


def test_llm_judge_scores_open_answers(setup, tmp_path):
    server = chat_server(lambda body: "1")
    try:
        local = BACKENDS.get("local")(setup / "model", batch_size=4)
        results = run(local, [resolve("medsynth-xray-report", setup / "data")], tmp_path / "ev", limit=3,
                      max_new_tokens=3, blank=False,
                      judge={"url": f"http://127.0.0.1:{server.server_port}/v1", "model": "judge"})
    finally:
        server.shutdown()
    entry = results["tasks"]["medsynth-xray-report"]
    assert entry["scores"]["llm_judge"] == 1.0 and "judge" in entry["conventions"]["llm_judge"]
