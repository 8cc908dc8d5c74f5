"""Qwen2-VL and Qwen2.5-VL: a ViT with 2-D rotary positions (windowed attention in 2.5) whose patch
merger (the projector) joins 2x2 patches; the template writes `<|vision_start|><|image_pad|><|vision_end|>`
and the model fills one `<|image_pad|>` per merged patch (`image_grid_thw` from the image processor
gives the grid; `mm_token_type_ids` marks the image tokens for the 3-D rotary positions)."""
from dataclasses import replace

from .. import FAMILIES, Family

TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def _scratch(version: str):
    def scratch(tokenizer, vision: dict, text: dict, image_size: int):
        import transformers
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        from ._text import text_config

        tokenizer.add_special_tokens({"additional_special_tokens": TOKENS}, replace_extra_special_tokens=False)
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in TOKENS}
        text = text_config(tokenizer, text)
        head = text["hidden_size"] // text["num_attention_heads"]
        text.setdefault("rope_scaling", {"type": "mrope", "mrope_section": [head // 8, head // 8, head // 4]})
        vision = {"depth": 1, "num_heads": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                  "in_channels": 3, **({"embed_dim": 32, "mlp_ratio": 2, "hidden_size": text["hidden_size"]}
                                       if version == "Qwen2VL" else
                                       {"hidden_size": 32, "intermediate_size": 64, "out_hidden_size": text["hidden_size"],
                                        "fullatt_block_indexes": [0], "window_size": 56}), **vision}
        config = getattr(transformers, f"{version}Config")(
            vision_config=vision, text_config=text, image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
        pixels = image_size * image_size
        return getattr(transformers, f"{version}ForConditionalGeneration")(config), Qwen2VLImageProcessorPil(
            min_pixels=pixels, max_pixels=pixels, patch_size=vision["patch_size"], merge_size=vision["spatial_merge_size"],
            temporal_patch_size=vision["temporal_patch_size"])
    return scratch


QWEN2_VL = FAMILIES.register("qwen2_vl")(Family(
    model_types=("qwen2_vl",), marker="<|vision_start|><|image_pad|><|vision_end|>", image_token="<|image_pad|>",
    parts={"encoders.image": ("model.visual.patch_embed", "model.visual.blocks"),
           "connectors.image": ("model.visual.merger",), "llm": ("model.language_model", "lm_head")},
    token_types="mm_token_type_ids", default_image_size=448, scratch=_scratch("Qwen2VL")))
FAMILIES.register("qwen2_5_vl")(replace(QWEN2_VL, model_types=("qwen2_5_vl",), scratch=_scratch("Qwen2_5_VL")))
