"""Export a medmllm model as a transformers LLaVA folder (`medmllm export DIR OUT --format hf-llava`).

The folder loads with `AutoModelForImageTextToText` and `AutoProcessor` (`LlavaForConditionalGeneration`,
`LlavaProcessor`) and in vLLM, with no code of ours. It holds one `image` encoder, `hf_vision` around a
CLIP, SigLIP or ViT tower, a `linear` or `mlp2x_gelu` connector and a Llama, Qwen2 or Mistral LLM; any
other part is refused in one line naming it, read from `config.json` before any weight is loaded. An
adapter folder is merged first (`checkpoint.load_pretrained(merge=True)`).

Weights, ours -> Llava's:

    encoders.image.model.*     -> model.vision_tower.*                 the same module class, same names
    connectors.image.proj.0.*  -> model.multi_modal_projector.linear_1.*   mlp2x_gelu: act "gelu"
    connectors.image.proj.2.*  -> model.multi_modal_projector.linear_2.*
    connectors.image.proj.*    -> linear_1 = [I; -I; 0], act "relu", linear_2 = [W, -W, 0], bias b
                                  (`linear` when d_llm >= 2 d_enc: W relu(f) - W relu(-f) = W f, the same
                                  products summed in another order; vLLM has no identity activation)
                               -> linear_1 = W, b; act "linear"; linear_2 = I, 0   (otherwise: transformers only)
    llm.model.*                -> model.language_model.*
    llm.lm_head.weight         -> lm_head.weight

Config: `vision_feature_layer` -1 with `vision_config.tie_last_hidden_states` true, so Llava reads the
tower's `last_hidden_state` as our encoder does (SigLIP's and ViT's end with a LayerNorm that
`hidden_states[-1]` lacks; CLIP's has none). `vision_feature_select_strategy` "default" drops CLIP's
and ViT's class token, "full" keeps SigLIP's tokens (it has none): our encoder keeps the last N.
`image_token_index` is our `<image>` id, `image_seq_length` M. A one-channel tower becomes a three-channel
one, its patch weights divided by 3 on each channel: our processor averages colour to grey, and the RGB
image processors (and vLLM, which decodes every image to RGB) give a grey image three equal channels.

Processor: the tower family's image processor (PIL backend) set from our `processor_config.json`:
resize to S x S bilinear (PIL antialiases as our torch resize does), rescale 1/255, normalise by our
mean/std; the tokenizer and a chat template that writes content parts in our text form ("<image>\\n"
per image part, then the text) ahead of the tokenizer's own template. PIL resizes 8-bit pixels and
rounds them, ours resizes floats: pixel values differ by under 1/255 before normalising (none when
the image is already S x S). DICOM windows and 16-bit images are ours only: convert them to 8-bit.
"""
from __future__ import annotations

import json
from pathlib import Path

from .chat import MODALITIES, PLACEHOLDERS
from .errors import MedMLLMError, brief
from .files import atomic_folder
from .lora import base_of, is_adapter_folder

TOWERS = {"clip_vision_model": ("CLIP", 1), "siglip_vision_model": ("SigLIP", 0), "vit": ("ViT", 1)}
"""Vision model_type -> (family, leading class tokens that our encoder drops and Llava must drop)."""
CONNECTORS = ("linear", "mlp2x_gelu")
LLMS = ("llama", "qwen2", "mistral")
IMAGE_PROCESSORS = {"clip_vision_model": "CLIPImageProcessorPil", "siglip_vision_model": "SiglipImageProcessorPil",
                    "vit": "ViTImageProcessorPil"}
NEEDS = "export needs one image encoder (hf_vision: CLIP, SigLIP or ViT), a linear or mlp2x_gelu connector " \
        "and a llama, qwen2 or mistral LLM"


# -- what the format holds ---------------------------------------------------------------------
def chain(folder: str | Path) -> list[Path]:
    """`folder`, then the base it applies to when it is an adapter folder, down to a full checkpoint."""
    folders = [Path(folder)]
    while is_adapter_folder(folders[-1]) and len(folders) < 100:
        folders.append(base_of(folders[-1]))
    return folders


def source_config(folder: str | Path) -> dict:
    """The medmllm `config.json` of `folder`, or of the base an adapter folder applies to."""
    path = chain(folder)[-1] / "config.json"
    if not path.is_file():
        raise MedMLLMError(f"{folder}: not a saved medmllm model (no config.json or adapter_config.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MedMLLMError(f"{path}: unreadable model config ({brief(e)})") from None
    if not isinstance(config, dict) or config.get("model_type") != "medmllm":
        raise MedMLLMError(f"{path}: not a medmllm model config (model_type is not 'medmllm')")
    return config


def check_llava(config: dict, where: str | Path) -> None:
    """Refuse, in one line naming the part, a model the Llava format cannot hold."""
    encoders, connectors = config.get("encoders") or {}, config.get("connectors") or {}
    for modality, spec in encoders.items():
        if modality != "image":
            raise MedMLLMError(f"{where}: hf-llava cannot hold the '{modality}' encoder ({spec.get('name')}); {NEEDS}")
    if "image" not in encoders:
        raise MedMLLMError(f"{where}: hf-llava needs an image encoder and this model has none; {NEEDS}")
    name = encoders["image"].get("name")
    if name != "hf_vision":
        raise MedMLLMError(f"{where}: hf-llava cannot hold the 'image' encoder ({name}); {NEEDS}")
    tower = (encoders["image"].get("params") or {}).get("config") or {}
    tower_type = _tower_type(tower)
    if tower_type not in TOWERS:
        raise MedMLLMError(f"{where}: hf-llava cannot hold the image encoder's {tower_type!r} tower "
                           f"(hf_vision); {NEEDS}")
    channels = (tower.get("vision_config") or tower).get("num_channels", 3)
    if channels not in (1, 3):
        raise MedMLLMError(f"{where}: hf-llava cannot hold a {channels}-channel image tower; image processors "
                           "give grey (1) or RGB (3) images")
    connector = (connectors.get("image") or {}).get("name")
    if connector not in CONNECTORS:
        raise MedMLLMError(f"{where}: hf-llava cannot hold the '{connector}' image connector; {NEEDS}")
    params = (connectors.get("image") or {}).get("params") or {}
    if params.get("positions"):
        raise MedMLLMError(f"{where}: hf-llava's projector has no position table (connectors.image.params.positions)")
    if params.get("regions"):
        raise MedMLLMError(f"{where}: hf-llava's projector has no region-summary token (connectors.image.params.regions)")
    if params.get("order", "rows") != "rows":
        raise MedMLLMError(f"{where}: hf-llava's projector keeps the tower's row-major token order "
                           "(connectors.image.params.order)")
    llm = (config.get("text_config") or {}).get("model_type")
    if llm not in LLMS:
        raise MedMLLMError(f"{where}: hf-llava cannot hold the {llm!r} LLM; {NEEDS}")


def _tower_type(tower: dict) -> str | None:
    """The model_type hf_vision builds from its `config` param (a full CLIP/SigLIP config: its vision part)."""
    vision = tower.get("vision_config")
    if isinstance(vision, dict):
        return vision.get("model_type") or f"{tower.get('model_type')}_vision_model"
    return tower.get("model_type")


# -- weights -----------------------------------------------------------------------------------
def _tower_weights(encoder) -> dict:
    """The vision tower's state dict; a one-channel patch embedding spread over three channels / 3."""
    from torch import nn

    weights = dict(encoder.model.state_dict())
    if encoder.vision_config.num_channels == 1:
        for name, module in encoder.model.named_modules():
            if isinstance(module, nn.Conv2d) and module.in_channels == 1:
                key = f"{name}.weight"
                weights[key] = weights[key].repeat(1, 3, 1, 1) / 3  # (D, 1, p, p) -> (D, 3, p, p)
    return weights


def _projector(connector) -> tuple[str, dict]:
    """(projector_hidden_act, linear_1/linear_2 weights) computing exactly our connector's map."""
    import torch

    proj = connector.proj
    if isinstance(proj, torch.nn.Sequential):  # mlp2x_gelu: Linear, GELU (exact erf), Linear
        return "gelu", {"linear_1.weight": proj[0].weight, "linear_1.bias": proj[0].bias,
                        "linear_2.weight": proj[2].weight, "linear_2.bias": proj[2].bias}
    w, b = proj.weight, proj.bias  # linear: (d_llm, d_enc), (d_llm,)
    d_llm, d_enc = w.shape
    eye = torch.eye(d_enc, dtype=w.dtype)
    if d_llm >= 2 * d_enc:  # relu(f) - relu(-f) = f, exactly
        pad = d_llm - 2 * d_enc
        return "relu", {"linear_1.weight": torch.cat([eye, -eye, w.new_zeros(pad, d_enc)]),
                        "linear_1.bias": w.new_zeros(d_llm),
                        "linear_2.weight": torch.cat([w, -w, w.new_zeros(d_llm, pad)], dim=1),
                        "linear_2.bias": b}
    return "linear", {"linear_1.weight": w, "linear_1.bias": b,
                      "linear_2.weight": torch.eye(d_llm, dtype=w.dtype), "linear_2.bias": w.new_zeros(d_llm)}


def llava_weights(model) -> tuple[str, dict]:
    """(projector_hidden_act, Llava state dict) from a merged MedMLLM; see the module docstring."""
    act, projector = _projector(model.connectors["image"])
    weights = {f"model.vision_tower.{k}": v for k, v in _tower_weights(model.encoders["image"]).items()}
    weights.update({f"model.multi_modal_projector.{k}": v for k, v in projector.items()})
    for key, value in model.llm.state_dict().items():
        weights[f"model.language_model.{key[len('model.'):]}" if key.startswith("model.") else key] = value
    return act, weights


# -- config, processor, template ---------------------------------------------------------------
def llava_config(model, act: str):
    """The LlavaConfig matching `model` (a merged MedMLLM) and a projector activation."""
    from transformers import LlavaConfig

    vision = model.encoders["image"].vision_config.to_dict()
    tower_type = vision["model_type"]
    vision.update(num_channels=3, tie_last_hidden_states=True)  # hidden_states[-1] := last_hidden_state
    text = model.config.text_config.to_dict()
    return LlavaConfig(vision_config=vision, text_config=text,
                       image_token_index=model.config.placeholder_ids["image"],
                       image_seq_length=model.num_tokens("image"), projector_hidden_act=act,
                       vision_feature_layer=-1, multimodal_projector_bias=True,
                       vision_feature_select_strategy="default" if TOWERS[tower_type][1] else "full",
                       tie_word_embeddings=bool(text.get("tie_word_embeddings")), dtype=str(model.dtype).split(".")[-1])


TEMPLATE_PREFIX = (  # content parts -> our text form, then the tokenizer's own template on plain strings
    "{%- set mm_turns = namespace(messages=[]) -%}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string or message['content'] is none -%}"
    "{%- set mm_turns.messages = mm_turns.messages + [message] -%}"
    "{%- else -%}{%- set mm_text = namespace(s='') -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] in ('image', 'image_url') -%}{%- set mm_text.s = mm_text.s + 'PLACEHOLDER\\n' -%}"
    "{%- elif part['type'] == 'text' -%}{%- set mm_text.s = mm_text.s + part['text'] -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- set mm_turns.messages = mm_turns.messages + [dict(message, content=mm_text.s)] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- set messages = mm_turns.messages %}"
).replace("PLACEHOLDER", PLACEHOLDERS["image"])


def chat_template(template: str | dict) -> str | dict:
    """`template` (written for string contents) taking OpenAI-style content parts too: each image part
    becomes "<image>\\n" and each text part its text, in order, as our processor writes an image question."""
    if isinstance(template, dict):  # named templates
        return {name: chat_template(t) for name, t in template.items()}
    return TEMPLATE_PREFIX + template


def llava_processor(processor, config):
    """A LlavaProcessor reproducing `processor` (our MedMLLMProcessor) for the tower in `config`."""
    import copy

    import transformers
    from transformers import LlavaProcessor
    from transformers.image_utils import PILImageResampling

    s, vision = processor.settings, config.vision_config
    size = {"height": s.image_size, "width": s.image_size}
    # a grey tower normalises its one channel by the first value; the three it now takes, alike
    mean, std = ([v[0]] * 3 if len(v) == 1 or s.image_channels == 1 else list(v[:3])
                 for v in (s.image_mean, s.image_std))
    image_processor = getattr(transformers, IMAGE_PROCESSORS[vision.model_type])(
        do_resize=True, size=size, resample=PILImageResampling.BILINEAR, do_center_crop=False, crop_size=size,
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True, image_mean=mean, image_std=std,
        do_convert_rgb=True)
    tokenizer = copy.deepcopy(processor.tokenizer)
    tokenizer.chat_template = chat_template(processor.tokenizer.chat_template)
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=vision.patch_size,
                          vision_feature_select_strategy=config.vision_feature_select_strategy,
                          chat_template=tokenizer.chat_template, image_token=PLACEHOLDERS["image"],
                          num_additional_image_tokens=TOWERS[vision.model_type][1])


def generation_config(model, tokenizer):
    """Ours: end and pad ids, and no placeholder ever generated (`suppress_tokens`)."""
    import copy

    gen = copy.deepcopy(model.generation_config)
    gen.eos_token_id = gen.eos_token_id if gen.eos_token_id is not None else tokenizer.eos_token_id
    gen.pad_token_id = gen.pad_token_id if gen.pad_token_id is not None else tokenizer.pad_token_id
    gen.suppress_tokens = sorted({model.config.placeholder_ids[m] for m in MODALITIES
                                  if m in (model.config.placeholder_ids or {})})
    return gen


# -- the conversion and the command ------------------------------------------------------------
def _llava_model(model, tokenizer):
    """LlavaForConditionalGeneration holding `model`'s weights (shared where unchanged), built on the meta
    device: its non-persistent buffers (rotary frequencies) stay there, so it is for saving only."""
    import torch
    from transformers import LlavaForConditionalGeneration

    act, weights = llava_weights(model)
    config = llava_config(model, act)
    with torch.device("meta"):
        llava = LlavaForConditionalGeneration(config)
    missing, unexpected = llava.load_state_dict(weights, strict=False, assign=True)
    if missing or unexpected:  # a tower or LLM class whose names differ from Llava's
        raise MedMLLMError(f"hf-llava: the weights do not fit LlavaForConditionalGeneration (missing: "
                           f"{', '.join(missing[:3]) or 'none'}; unexpected: {', '.join(unexpected[:3]) or 'none'})")
    if config.tie_word_embeddings:
        llava.lm_head.weight = llava.model.language_model.embed_tokens.weight
    llava.generation_config = generation_config(model, tokenizer)
    return llava


def write_llava(model, processor, folder: str | Path) -> dict:
    """Save a merged MedMLLM and its processor into `folder` as a Llava model and processor; a summary."""
    check_llava(model.config.to_dict(), type(model).__name__)
    llava = _llava_model(model, processor.tokenizer)
    llava.save_pretrained(folder)
    llava_processor(processor, llava.config).save_pretrained(folder)
    config = llava.config
    return {"tower": TOWERS[config.vision_config.model_type][0], "connector": model.config.connectors["image"]["name"],
            "projector_act": config.projector_hidden_act, "llm": config.text_config.model_type,
            "image_tokens": config.image_seq_length, "vllm": vllm_notes(config)}


def vllm_notes(config) -> list[str]:
    """Where vLLM's Llava (its own model code) will not reproduce an exported Llava `config`."""
    notes = []
    tower = config.vision_config.model_type
    if tower == "siglip_vision_model":
        notes.append("vLLM's Llava builds a SigLIP tower without its final LayerNorm and ignores "
                     "vision_config.tie_last_hidden_states, so its image features differ from this model's "
                     "(transformers reproduces them)")
    elif tower != "clip_vision_model":
        notes.append(f"vLLM's Llava takes CLIP, SigLIP or Pixtral towers, not {TOWERS[tower][0]}: transformers only")
    if config.projector_hidden_act == "linear":
        notes.append("vLLM has no 'linear' projector activation (the exact relu form of a linear connector needs "
                     "d_llm >= 2 d_enc): transformers only")
    return notes


FORMATS = {"hf-llava": (check_llava, write_llava)}
"""Export format -> (check(config dict, folder): refuse what it cannot hold, write(model, processor, folder))."""


def _check_out(folder: Path, out: Path, force: bool) -> None:
    """OUT may not be, nor hold, the model folder or a base it applies to (replacing it would delete them)."""
    if out.exists() and not out.is_dir():
        raise MedMLLMError(f"{out}: exists and is not a folder")
    for source in chain(folder):
        if out.resolve() == source.resolve() or out.resolve() in source.resolve().parents:
            what = "is" if out.resolve() == source.resolve() else "holds"
            raise MedMLLMError(f"{out}: {what} the model folder {source}; choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise MedMLLMError(f"{out}: exists and is not empty (use --force to replace it)")


def export(folder: str | Path, out: str | Path, fmt: str = "hf-llava", force: bool = False) -> dict:
    """Write `folder` (a full or adapter medmllm folder, merged first) to `out` in format `fmt`. The model
    is checked from its config before any weight is read; `out` is built in a temporary folder beside
    it and renamed, so a failure leaves nothing there (and an old `out` under `force` untouched)."""
    from .checkpoint import load_pretrained

    folder, out = Path(folder), Path(out)
    if fmt not in FORMATS:
        raise MedMLLMError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not folder.is_dir():
        raise MedMLLMError(f"{folder}: no such folder")
    check, write = FORMATS[fmt]
    check(source_config(folder), folder)
    _check_out(folder, out, force)
    model, processor = load_pretrained(folder, merge=True)
    with atomic_folder(out) as tmp:
        summary = write(model.eval(), processor, tmp)
    return {"out": str(out), "format": fmt, **summary}
