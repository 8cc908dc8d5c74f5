"""Modality encoders: an input tensor -> feature vectors F of shape (B, N, d_enc).

Each encoder registers itself by name with `@ENCODERS.register(...)`; the model config
names it (`encoders.image.name: hf_vision`). Every encoder exposes `out_dim` (d_enc) and
`num_patches` (N) so a connector can be sized without running it.
"""
from ..registry import Registry, import_modules

ENCODERS: Registry = Registry("encoder")

import_modules(__name__, __path__)  # each encoder file registers itself

__all__ = ["ENCODERS"]
