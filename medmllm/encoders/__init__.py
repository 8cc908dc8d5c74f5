"""Modality encoders: an input tensor -> feature vectors F of shape (B, N, d_enc).

Each encoder registers itself by name with `@ENCODERS.register(...)`; the model config
names it (`encoders.image.name: hf_vision`). Registration checks the encoder contract
(`base.py`): `modality`, `out_dim` (d_enc), `num_patches` (N) and `input_spec()` (the input
geometry the processor must produce), so a connector and the processor settings are derived
from any encoder without knowing its class.
"""
from ..registry import Registry, import_modules
from .base import Encoder, check_encoder

ENCODERS: Registry = Registry("encoder", check=check_encoder)

import_modules(__name__, __path__, skip=("base",))  # each encoder file registers itself

__all__ = ["ENCODERS", "Encoder"]
