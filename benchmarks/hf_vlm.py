"""A Hugging Face VLM family trained for real at CPU scale: a tiny LLaVA, from scratch, on MedSynth
x-ray VQA, against `MedMLLM` on the same data for the same minutes.

- `llava_swin`: `LlavaForConditionalGeneration` with a Swin tower (patch 4, windows of 6, three
  stages: 96 px -> 36 tokens of 128) and the demo's decoder shape (3 Llama layers, hidden 128, a
  1,024-token tokenizer trained on the data), built by `medmllm.vlm.scratch`, every part trained in
  full through `model.vlm`. Swin's local windows give the tower a convolution's bias toward nearby
  pixels, which a plain ViT lacks at this data size.
- `llava_focal`: the same with a FocalNet tower (focal modulation: depthwise convolutions of 3 and 5
  and gates in place of attention, overlapping convolutional patch embeddings; 32-64-128 channels as
  the demo's ResNet, 96 px -> 36 tokens of 128). Convolutions throughout, and its hidden states are
  token sequences, which LLaVA's projector takes.
- `llava_levit`: the same with LeViT's convolutional stem as the tower: four 3x3 convolutions of
  stride 2 (32-64-128-256 channels), each with batch norm, hardswish between; LLaVA reads the stem's
  output (`vision_feature_layer` -4: 96 px -> 36 tokens of 256), and LeViT's attention stages, which
  would pool the 6 x 6 grid to 3 x 3, are left unused (depth 0; their pooling layers get no gradient).
- `llava_siglip`: the same with a SigLIP ViT tower (patch 8: 144 tokens of 128), for the record.
- `llava_levit128`: the same stem at half the width (16-32-64-128 channels), for the record.
- `medmllm`: the demo's composite (tiny ResNet, MLP connector, the same decoder shape).
- `medmllm_focal`: the demo's composite with `llava_focal`'s tower in place of the ResNet (one grey
  channel): the same tower in both families, to tell the tower's effect from the family's.

Each arm: SFT on the demo's 2,000 cases (seed 0), 8 questions packed per image, the same
`--loss-weighting` (the demo's `square` by default), for `--minutes` of training wall time (cosine
decaying with the clock); scored on a MedSynth set of an unseen seed, the first `--limit` test
questions, blank image beside.

    .venv/bin/python benchmarks/hf_vlm.py --minutes 15 --seeds 0 1 2 --arms llava_levit medmllm
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _arms import add_common_args, equal_time, train  # noqa: E402

DECODER = {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 3, "num_attention_heads": 4,
           "num_key_value_heads": 2, "max_position_embeddings": 1024, "initializer_range": 0.02}
TOWERS = {
    "llava_swin": {"model_type": "swin", "patch_size": 4, "num_channels": 3, "embed_dim": 32, "depths": [1, 1, 1],
                   "num_heads": [2, 4, 8], "window_size": 6},
    "llava_focal": {"model_type": "focalnet", "embed_dim": 32, "depths": [1, 1, 1], "focal_levels": [2, 2, 2],
                    "focal_windows": [3, 3, 3], "use_conv_embed": True, "patch_size": 4, "num_channels": 3},
    "llava_levit": {"model_type": "levit", "hidden_sizes": [256, 256, 256], "num_attention_heads": [4, 4, 4],
                    "depths": [0, 0, 0], "key_dim": [16, 16, 16], "mlp_ratio": [2, 2, 2], "attention_ratio": [2, 2, 2],
                    "num_channels": 3, "feature_layer": -4},
    "llava_levit128": {"model_type": "levit", "hidden_sizes": [128, 128, 128], "num_attention_heads": [4, 4, 4],
                       "depths": [0, 0, 0], "key_dim": [16, 16, 16], "mlp_ratio": [2, 2, 2],
                       "attention_ratio": [2, 2, 2], "num_channels": 3, "feature_layer": -4},
    "llava_siglip": {"model_type": "siglip_vision_model", "hidden_size": 128, "intermediate_size": 256,
                     "num_hidden_layers": 3, "num_attention_heads": 4, "patch_size": 8},
}
COMMON = ["train.stage=sft", "data.pack_turns=8", "train.warmup_ratio=0.05", "train.save_steps=100000",
          "train.batch_size=16", "train.processes=1", "train.learning_rate=5e-4"]


def vlm_folder(arm: str, data: Path, out: Path) -> Path:
    from medmllm.vlm.scratch import build

    texts = [t["value"] for line in (data / "xray_vqa_train.jsonl").read_text().splitlines()
             for t in json.loads(line)["conversations"]]
    return build("llava", out / f"{arm}_scratch", texts, vision=TOWERS[arm], text=DECODER, image_size=96, vocab=1024)


def main() -> None:
    ap = argparse.ArgumentParser()
    add_common_args(ap, "runs/hf_vlm", 15.0)
    ap.add_argument("--arms", nargs="*", default=["llava_levit", "medmllm"],
                    choices=[*TOWERS, "medmllm", "medmllm_focal"])
    ap.add_argument("--align-minutes", type=float, default=0.0,
                    help="of --minutes, this many first on the reports (align stage, every part trained)")
    ap.add_argument("--threads", type=int, default=0, help="train.threads of every arm (0: the free cores)")
    ap.add_argument("--loss-weighting", default="square", choices=["token", "square", "turn"],
                    help="train.loss_weighting of every arm (the demo's: square)")
    args = ap.parse_args()

    def train_arm(arm: str, seed: int, data: Path, run: Path) -> float:
        config = "medmllm/configs/demo_align.yaml"  # the demo's model
        extra = [*COMMON, f"train.seed={seed}", f"train.loss_weighting={args.loss_weighting}",
                 f"train.threads={args.threads}"]
        if arm == "medmllm_focal":
            focal = {**TOWERS["llava_focal"], "num_channels": 1, "image_size": 96}
            extra.append(f"model.encoders.image.params.config={json.dumps(focal)}")
        elif arm != "medmllm":
            config = str(args.out / "vlm.yaml")
            (args.out / "vlm.yaml").write_text(json.dumps({"model": {
                "vlm": str(vlm_folder(arm, data, args.out)), "vlm_inputs": {"image_size": 96}},
                "train": {"trainable": {"encoders": "full", "connectors": "full", "llm": "full"}}}))
        start, wall = None, 0.0
        if args.align_minutes:  # first the reports (every finding and its side), then the questions
            wall = train(config, None, [data / "xray_report_train.jsonl"], run.with_name(f"{arm}_align"),
                         args.align_minutes, [*extra, "train.stage=align", "data.pack_turns=1"])
            start = run.with_name(f"{arm}_align") / "model"
        return wall + train(config, start, [data / "xray_vqa_train.jsonl"], run, args.minutes - args.align_minutes,
                            extra)

    equal_time(args, train_arm)


if __name__ == "__main__":
    main()
