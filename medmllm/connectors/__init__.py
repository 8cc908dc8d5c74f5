"""Connectors: encoder features F (B, N, d_enc) -> M tokens T (B, M, d_llm) in the LLM's embedding space.

Registered by name (`connectors.image.name: mlp2x_gelu`). Every connector is built as
`cls(in_dim, out_dim, in_tokens, **params)` and exposes `num_tokens` (M), which the
processor uses to expand each `<image>`/`<volume>`/`<ecg>` placeholder into M tokens.
"""
from ..registry import Registry, import_modules

CONNECTORS: Registry = Registry("connector")

import_modules(__name__, __path__)  # each connector file registers itself

__all__ = ["CONNECTORS"]
