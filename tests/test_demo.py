"""`medmllm demo --quick`: the whole pipeline writes everything it promises (accuracy is the full demo's job)."""
import json
import subprocess
import sys

import pytest


def test_quick_demo(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "medmllm.cli", "demo", "--quick", "--out", str(out), "--seed", "3"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("model/model.safetensors", "model/processor_config.json", "results.json", "results.md",
                 "predictions.jsonl", "loss.png", "align/loss.png", "sft/loss.png"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["demo"]["seed"] == 3  # the training seed reaches both stages
    assert results["demo"]["sft_epochs"] == pytest.approx(1.0, abs=0.05)
    for stage in ("align", "sft"):
        assert json.loads((out / stage / "model" / "run_config.json").read_text())["train"]["seed"] == 3
    vqa = results["tasks"]["xray_vqa_test"]
    assert 0.0 <= vqa["scores"]["closed_accuracy"] <= 1.0 and "closed_accuracy" in vqa["blank_scores"]
    assert {"bleu4", "rougeL"} <= set(results["tasks"]["xray_report_test"]["scores"])
    assert "| question | reference | model answer |" in proc.stdout
    assert "closed-question accuracy" in proc.stdout
