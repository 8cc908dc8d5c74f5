"""SmolVLM and Idefics3: a SigLIP-style tower, a pixel-shuffle connector (`scale_factor`^2 patches per
token) and a Llama decoder. The template writes `<image>`; one image (no tiling: medmllm resizes it to
one square) becomes `<fake_token_around_image><global-img>` + n x `<image>` + `<fake_token_around_image>`,
as the processors' single-image prompt."""
from .. import FAMILIES, Family

TOKENS = ["<fake_token_around_image>", "<global-img>"]


def scratch(tokenizer, vision: dict, text: dict, image_size: int):
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    from ._text import text_config

    tokenizer.add_special_tokens({"additional_special_tokens": TOKENS}, replace_extra_special_tokens=False)
    vision = {"model_type": "smolvlm_vision", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": image_size, "patch_size": 16, **vision}
    config = SmolVLMConfig(vision_config=vision, text_config={"model_type": "llama", **text_config(tokenizer, text)},
                           scale_factor=2, image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    size = {"longest_edge": image_size}
    return SmolVLMForConditionalGeneration(config), SmolVLMImageProcessorPil(
        do_image_splitting=False, size=size, max_image_size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)


FAMILIES.register("smolvlm")(Family(
    model_types=("smolvlm", "idefics3"), marker="<image>", image_token="<image>",
    expansion="<fake_token_around_image><global-img>{tokens}<fake_token_around_image>",
    parts={"encoders.image": ("model.vision_model",), "connectors.image": ("model.connector",),
           "llm": ("model.text_model", "lm_head")}, scratch=scratch))
