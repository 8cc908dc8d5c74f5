"""Modality encoders: an input tensor -> feature vectors F of shape (B, N, d_enc).

Each encoder registers itself by name with `@ENCODERS.register(...)`; the model config
names it (`encoders.image.name: hf_vision`). Every encoder exposes `out_dim` (d_enc) and
`num_patches` (N) so a connector can be sized without running it.
"""
from ..registry import Registry

ENCODERS: Registry = Registry("encoder")

from . import ecg, image, volume  # noqa: E402,F401  (registration side effect)

__all__ = ["ENCODERS"]
