"""Gemma 3 (MedGemma's architecture): a SigLIP tower, a projector that average-pools the patches to
`mm_tokens_per_image` soft tokens, and Gemma 3's decoder, in which image tokens attend to each other
both ways (`token_type_ids`). The template writes `<start_of_image>`; the model expands it to
"\\n\\n<start_of_image>" + n x `<image_soft_token>` + "<end_of_image>\\n\\n", as Gemma3Processor does."""
from .. import FAMILIES, Family

TOKENS = ["<start_of_image>", "<end_of_image>", "<image_soft_token>"]


def scratch(tokenizer, vision: dict, text: dict, image_size: int):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    from ._text import text_config

    tokenizer.add_special_tokens({"additional_special_tokens": TOKENS}, replace_extra_special_tokens=False)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in TOKENS}
    vision = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": image_size, "patch_size": 16, "vision_use_head": False, **vision}
    text = {"head_dim": 16, "sliding_window": 512, "query_pre_attn_scalar": 16, **text_config(tokenizer, text)}
    config = Gemma3Config(vision_config=vision, text_config=text, mm_tokens_per_image=4,
                          boi_token_index=ids["<start_of_image>"], eoi_token_index=ids["<end_of_image>"],
                          image_token_index=ids["<image_soft_token>"], tie_word_embeddings=False,
                          initializer_range=text["initializer_range"])
    size = {"height": image_size, "width": image_size}
    return Gemma3ForConditionalGeneration(config), Gemma3ImageProcessorPil(size=size, image_mean=[0.5] * 3,
                                                                           image_std=[0.5] * 3)


FAMILIES.register("gemma3")(Family(
    model_types=("gemma3",), marker="<start_of_image>", image_token="<image_soft_token>",
    expansion="\n\n<start_of_image>{tokens}<end_of_image>\n\n",
    parts={"encoders.image": ("model.vision_tower",), "connectors.image": ("model.multi_modal_projector",),
           "llm": ("model.language_model", "lm_head")},
    dropped=("num_crops",), token_types="token_type_ids", scratch=scratch))
