"""LLaVA / LLaVA-1.5 (`LlavaForConditionalGeneration`): vision tower, MLP projector, decoder LLM.
The chat template writes `<image>`; the model fills one `<image>` token per feature."""
from .. import FAMILIES, Family


def scratch(tokenizer, vision: dict, text: dict, image_size: int):
    from transformers import LlavaConfig, LlavaForConditionalGeneration, SiglipImageProcessorPil

    from ._text import text_config

    if "model_type" not in vision:  # a tiny SigLIP; any vision config whose hidden states are sequences fits
        # (Swin, FocalNet, LeViT's stem; a ResNet's are feature maps, which LLaVA's projector cannot take)
        vision = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                  "num_hidden_layers": 1, "num_attention_heads": 2, "patch_size": 16, **vision}
    vision = {**vision, "image_size": image_size}
    layer = vision.pop("feature_layer", -1)  # the tower's hidden state LLaVA reads (negative: transformers
    # takes vision_feature_layer=0 for "no hidden states"); -4 of a 3-stage LeViT is its convolutional stem
    if "hidden_size" not in vision and "embed_dim" in vision:  # a hierarchical tower (FocalNet) names its
        vision["hidden_size"] = vision["embed_dim"] * 2 ** (len(vision["depths"]) - 1)  # width by stages only
    config = LlavaConfig(vision_config=vision, text_config={"model_type": "llama", **text_config(tokenizer, text)},
                         image_token_id=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_layer=layer,
                         vision_feature_select_strategy="full", projector_hidden_act="gelu")
    size = {"height": image_size, "width": image_size}
    return LlavaForConditionalGeneration(config), SiglipImageProcessorPil(size=size, image_mean=[0.5] * 3,
                                                                          image_std=[0.5] * 3)


FAMILIES.register("llava")(Family(
    model_types=("llava",), marker="<image>", image_token="<image>",
    parts={"encoders.image": ("model.vision_tower",), "connectors.image": ("model.multi_modal_projector",),
           "llm": ("model.language_model", "lm_head")}, scratch=scratch))
