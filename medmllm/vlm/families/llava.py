"""LLaVA / LLaVA-1.5 (`LlavaForConditionalGeneration`): vision tower, MLP projector, decoder LLM.
The chat template writes `<image>`; the model fills one `<image>` token per feature."""
from ...errors import MedMLLMError
from .. import FAMILIES, Family


def scratch(tokenizer, vision: dict, text: dict, image_size: int):
    from transformers import LlavaConfig, LlavaForConditionalGeneration, SiglipImageProcessorPil

    from ._text import text_config

    if "model_type" not in vision:  # a tiny SigLIP; any vision config whose hidden states are sequences fits
        # (Swin, FocalNet, LeViT's stem; a ResNet's are feature maps, which LLaVA's projector cannot take)
        vision = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                  "num_hidden_layers": 1, "num_attention_heads": 2, "patch_size": 16, **vision}
    vision = {**vision, "image_size": image_size}
    layer = vision.pop("feature_layer", -1)  # the tower's hidden state LLaVA reads (its vision_feature_layer)
    if layer == 0:  # transformers asks the tower for hidden states only when the index is truthy
        raise MedMLLMError("vision key 'feature_layer': 0 reads no hidden state in transformers; count from the "
                           "end (-4 of a 3-stage LeViT is its convolutional stem)")
    if "hidden_size" not in vision:  # the projector's input width: hierarchical towers name it by stage
        vision["hidden_size"] = _width(vision, layer, image_size)
    config = LlavaConfig(vision_config=vision, text_config={"model_type": "llama", **text_config(tokenizer, text)},
                         image_token_id=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_layer=layer,
                         vision_feature_select_strategy="full", projector_hidden_act="gelu")
    size = {"height": image_size, "width": image_size}
    return LlavaForConditionalGeneration(config), SiglipImageProcessorPil(size=size, image_mean=[0.5] * 3,
                                                                          image_std=[0.5] * 3)


def _width(vision: dict, layer: int, image_size: int) -> int:
    """The width of the tower's hidden state `layer`, from one dry run of a tower built from `vision`."""
    import torch
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model(**vision)
    tower = AutoModel.from_config(config).eval()
    with torch.no_grad():
        states = tower(torch.zeros(1, config.num_channels, image_size, image_size), output_hidden_states=True)
    count = len(getattr(states, "hidden_states", None) or ())
    if not -count <= layer < count:
        raise MedMLLMError(f"vision key 'feature_layer': {layer} is not one of the tower's {count} hidden states")
    if states.hidden_states[layer].dim() != 3:
        raise MedMLLMError(f"vision model_type {vision['model_type']!r}: its hidden states are not token "
                           "sequences, which LLaVA's projector needs")
    return states.hidden_states[layer].shape[-1]


FAMILIES.register("llava")(Family(
    model_types=("llava",), marker="<image>", image_token="<image>",
    parts={"encoders.image": ("model.vision_tower",), "connectors.image": ("model.multi_modal_projector",),
           "llm": ("model.language_model", "lm_head")}, scratch=scratch))
