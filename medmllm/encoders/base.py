"""The encoder contract: what every registered encoder provides, checked when it registers.

An encoder is an `nn.Module` whose `forward` maps a batch of its modality's inputs to features
F of shape (B, N, d_enc), and which declares, on the class (a class attribute or a property):

* `modality`: `image`, `volume` or `ecg`, the inputs it takes;
* `out_dim`: d_enc, the width of a feature vector;
* `num_patches`: N, feature vectors per input (a connector is sized from these two without
  running the encoder);
* `input_spec()`: the input it expects, as the processor settings of its modality:

      image  -> {"image_size": S, "image_channels": C}     input (B, C, S, S)
      volume -> {"volume_size": [D, H, W]}                 input (B, 1, D, H, W)
      ecg    -> {"ecg_leads": L, "ecg_samples": S}         input (B, L, S)

  `build.processor_settings` copies it into `ProcessorSettings` (saved as `processor_config.json`),
  so the processor shapes every input to fit; the keys must be the settings' fields for the modality.

Optionally `load_pretrained(model)` copies in pretrained weights (`hf_vision`). A new encoder is
one file in this folder: such a class under `@ENCODERS.register("name")`.
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from ..chat import MODALITIES

MEMBERS = ("out_dim", "num_patches", "input_spec")


class Encoder(Protocol):
    """The members every registered encoder class has (see the module docstring)."""

    modality: ClassVar[str]

    @property
    def out_dim(self) -> int: ...

    @property
    def num_patches(self) -> int: ...

    def input_spec(self) -> dict[str, Any]: ...

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


def check_encoder(name: str, cls: Any) -> None:
    """At registration: `cls` is an `nn.Module` class with a known `modality` and every `Encoder` member."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"encoder {name!r}: {cls!r} is not an nn.Module class")
    modality = getattr(cls, "modality", None)
    if modality not in MODALITIES:
        raise TypeError(f"encoder {name!r} ({cls.__name__}): class attribute `modality` must be one of "
                        f"{', '.join(MODALITIES)}, got {modality!r}")
    missing = [m for m in MEMBERS if not hasattr(cls, m)]
    if missing or not callable(cls.input_spec):
        raise TypeError(f"encoder {name!r} ({cls.__name__}) lacks {', '.join(missing) or 'a callable input_spec'} "
                        "on the class (see medmllm/encoders/base.py)")
