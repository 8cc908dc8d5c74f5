"""A saved demo-size model for the sections that load one (start-up, chat, evaluation, threads).

`medmllm/configs/demo_align.yaml`'s model (tiny ResNet encoder, MLP connector, 3-layer Llama of
hidden 128) with untrained weights (timing does not depend on training), its tokenizer trained on
the MedSynth x-ray questions. Made once per MedSynth folder, in `<data>/bench-demo-model`
(written under a temporary name, then renamed), and reused by the later sections and runs.
"""
from __future__ import annotations

from pathlib import Path

from _common import ROOT

FOLDER = "bench-demo-model"


def demo_model(data: Path) -> Path:
    """The model folder under `data`, made on first use."""
    folder = data / FOLDER
    if (folder / "processor_config.json").is_file():
        return folder
    from medmllm.build import build_model
    from medmllm.config import load_config
    from medmllm.files import atomic_folder

    cfg = load_config(ROOT / "medmllm" / "configs" / "demo_align.yaml", [])
    texts = (data / "xray_vqa_train.jsonl").read_text().splitlines()
    model, processor = build_model(cfg.model, texts)
    with atomic_folder(folder) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
    return folder
