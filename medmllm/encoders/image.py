"""2D image encoder: any Hugging Face vision backbone (CLIP, SigLIP, ViT, DINOv2, Swin, FocalNet,
ConvNeXt, ResNet).

Built from a vision config (a tiny one, or the one read from a hub id / local folder by
`medmllm.build`); pretrained weights are copied in by `load_pretrained`. Plain ViTs give (B, T, D)
tokens, of which the leading class/register tokens are dropped; hierarchical transformers (Swin,
FocalNet) give fewer, merged tokens, all kept; convolutional backbones give (B, C, h, w) maps,
flattened to (B, h*w, C). The count is taken from one dry run when the encoder is built.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from . import ENCODERS


def vision_config(config: dict):
    """A transformers config for the vision tower; a full CLIP/SigLIP config gives its vision part."""
    cfg = AutoConfig.for_model(**config)
    return getattr(cfg, "vision_config", None) or cfg


def _pair(v) -> tuple[int, int]:
    """An int or an (h, w) pair from a vision config, as (h, w)."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@ENCODERS.register("hf_vision")
class HFVisionEncoder(nn.Module):
    """Wraps `AutoModel.from_config(vision_config)`; features from the last hidden layer."""

    modality = "image"

    def __init__(self, config: dict):
        super().__init__()
        self.vision_config = vision_config(config)
        self.model = AutoModel.from_config(self.vision_config)
        self.grid, self._out_dim = self._probe()

    def _probe(self) -> tuple[int, int]:
        """(tokens kept, width), from one dry run in eval mode (batch-norm statistics untouched): a convnet's
        map is h*w tokens; of a transformer's sequence, a plain ViT's (H/p)*(W/p) patch tokens are kept
        (class/register tokens dropped), while a hierarchical one (Swin, FocalNet) has merged its patches
        into fewer tokens, all kept."""
        h, w = _pair(getattr(self.vision_config, "image_size", 224))
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            x = torch.zeros(1, self.vision_config.num_channels, h, w)
            out = self.model(pixel_values=x).last_hidden_state
        self.model.train(was_training)
        if out.dim() == 4:  # (1, C, h, w)
            return out.shape[-1] * out.shape[-2], out.shape[1]
        patch = getattr(self.vision_config, "patch_size", None)  # (1, T, D)
        grid = (h // _pair(patch)[0]) * (w // _pair(patch)[1]) if patch else out.shape[1]
        return min(grid, out.shape[1]), out.shape[-1]

    @property
    def out_dim(self) -> int:
        return self._out_dim

    @property
    def num_patches(self) -> int:
        return self.grid

    def input_spec(self) -> dict:
        """Square images of the vision config's size and channel count."""
        return {"image_size": getattr(self.vision_config, "image_size", 224),
                "image_channels": getattr(self.vision_config, "num_channels", 3)}

    def load_pretrained(self, model: nn.Module) -> None:
        """Copy weights from a loaded HF model (the vision tower of a CLIP/SigLIP model too)."""
        source = getattr(model, "vision_model", model) if hasattr(model.config, "vision_config") else model
        target = getattr(self.model, "vision_model", self.model) if source is not model else self.model
        target.load_state_dict(source.state_dict())

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixel_values)  # (B, C, H, W) -> ...
        hidden = out.last_hidden_state  # (B, T, D) or (B, C, h, w)
        if hidden.dim() == 4:
            hidden = hidden.flatten(2).transpose(1, 2)  # (B, h*w, C)
        hidden = hidden[:, hidden.shape[1] - self.grid :]  # (B, N, D): class/register tokens dropped
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None and self.training:
            # the pooling head is unused by the LLM; touch it so DDP sees every parameter used
            hidden = hidden + 0.0 * pooled.sum()  # (B, N, D)
        return hidden
