"""Bad input gets one line naming the file, record or key, and a non-zero exit; never a traceback."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from tiny import tiny_model_dict


def medmllm(*args, cwd=None):
    env = {**os.environ, "MEDMLLM_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "medmllm.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def _one_line_error(proc, *needles):
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("error: "), err
    for needle in needles:
        assert needle in last, last


@pytest.fixture
def bad_setup(tmp_path):
    """A valid image, a corrupt PNG and a config factory pointing at a manifest."""
    from PIL import Image

    Image.new("L", (40, 40), 128).save(tmp_path / "ok.png")
    (tmp_path / "corrupt.png").write_text("this is not a PNG")

    def make(records, model=None):
        manifest = tmp_path / "m.jsonl"
        manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
        cfg = {"model": model or tiny_model_dict(("image",)), "data": {"train": [str(manifest)]},
               "train": {"max_steps": 1, "batch_size": 2, "output_dir": str(tmp_path / "run")}}
        (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
        return tmp_path / "cfg.yaml"

    return tmp_path, make


def rec(image, question="<image>\nIs there an effusion?"):
    return {"id": "r", "image": image, "conversations": [{"from": "human", "value": question},
                                                         {"from": "gpt", "value": "no"}]}


def test_missing_file_in_manifest(bad_setup):
    tmp, make = bad_setup
    cfg = make([rec("ok.png"), rec("missing.png")])
    _one_line_error(medmllm("train", cfg), "m.jsonl:2", "missing.png", "not found")


def test_question_without_placeholder(bad_setup):
    tmp, make = bad_setup
    cfg = make([rec("ok.png", question="Is there an effusion?")])
    _one_line_error(medmllm("train", cfg), "m.jsonl:1", "0 <image> placeholder(s) but 1 image input(s)")


def test_corrupt_png(bad_setup):
    tmp, make = bad_setup
    cfg = make([rec("corrupt.png"), rec("corrupt.png")])
    _one_line_error(medmllm("train", cfg), "corrupt.png", "unrecognised file content (looks like text)")


def test_unknown_encoder_name(bad_setup):
    tmp, make = bad_setup
    model = tiny_model_dict(("image",))
    model["encoders"]["image"]["name"] = "vit9d"
    cfg = make([rec("ok.png")], model=model)
    _one_line_error(medmllm("train", cfg), "model.encoders.image.name", "unknown encoder 'vit9d'")


def test_unknown_stage_and_bad_value(bad_setup):
    """`train.stage` is checked against the recipe registry, ranges by the config: one line, exit 2."""
    tmp, make = bad_setup
    cfg = make([rec("ok.png")])
    proc = medmllm("train", cfg, "train.stage=pretrain")
    _one_line_error(proc, "config key 'train.stage': unknown training stage 'pretrain'; choose from align, dpo, grpo, sft")
    assert proc.returncode == 2
    proc = medmllm("train", cfg, "train.lora.dropout=1.5")
    _one_line_error(proc, "config key 'train.lora.dropout': 1.5 must be in [0, 1)")
    assert proc.returncode == 2


def test_skip_counts_bad_records(bad_setup):
    tmp, make = bad_setup
    cfg = make([rec("ok.png"), rec("missing.png"), rec("ok.png")])
    proc = medmllm("train", cfg, "data.on_error=skip")
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 bad record(s)" in proc.stdout and "m.jsonl:2" in proc.stdout


def test_chat_and_eval_bad_inputs(tmp_path):
    _one_line_error(medmllm("chat", "--model", tmp_path / "nomodel", "hi"), "nomodel")
    _one_line_error(medmllm("train", tmp_path / "none.yaml"), "none.yaml", "config file not found")


def test_the_command_line_starts_without_importing_torch():
    """Every command imports its heavy dependencies inside the function, so `medmllm --help` and the
    light commands start in a fraction of a second (torch + transformers take ~7 s here)."""
    code = "import sys, medmllm.cli; print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
