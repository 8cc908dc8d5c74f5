"""Preprocessing as composable transforms on sample dicts (MONAI's where they fit).

Each modality's pipeline is a list of callables `dict -> dict` over one key (`image`, `volume`
or `ecg`), applied in order; the processor builds them from its saved settings,
and users can insert their own (e.g. `processor.transforms("volume").insert(1, MyCrop())`).
Loaders take a path or an array; every later step takes and returns a tensor or array.

    image : LoadImaged(window) -> ChannelsD(C) -> ResizeImaged(S) -> NormalizeD(mean, std)  => (C, S, S)
    volume: LoadVolumed(spacing) -> ScaleIntensityRanged(HU window -> [0, 1]) -> Resized(D, H, W)  => (1, D, H, W)
    ecg   : LoadECGd(rate) -> LeadsD(L) -> ResizeWithPadOrCropd(S) -> NormalizeD(0, scale)  => (L, S)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

from . import io

Transform = Callable[[dict], dict]


@dataclass
class LoadImaged:
    """Path -> (C, H, W) float32 in [0, 1] (windowed: a preset name, (centre, width), or the file's own)."""

    key: str = "image"
    window: str | tuple[float, float] | None = None

    def __call__(self, d: dict) -> dict:
        x = d[self.key]
        arr = io.read_image(x, self.window) if isinstance(x, (str, Path)) else _to_unit(np.asarray(x, np.float32))
        t = torch.from_numpy(np.ascontiguousarray(arr))
        return {**d, self.key: t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)}


@dataclass
class ChannelsD:
    """Grey <-> colour: average the channels and repeat them when the count differs."""

    key: str
    channels: int

    def __call__(self, d: dict) -> dict:
        t = torch.as_tensor(d[self.key])
        if t.shape[0] != self.channels:
            t = t.mean(0, keepdim=True).expand(self.channels, *t.shape[1:])
        return {**d, self.key: t}


@dataclass
class ResizeImaged:
    """(C, H, W) -> (C, S, S), bilinear with antialiasing (as PIL and HF image processors resize)."""

    key: str
    size: int

    def __call__(self, d: dict) -> dict:
        t = torch.as_tensor(d[self.key], dtype=torch.float32)
        t = F.interpolate(t[None], size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)[0]
        return {**d, self.key: t}


@dataclass
class NormalizeD:
    """(x - mean) / std per channel (first dimension)."""

    key: str
    mean: list[float]
    std: list[float]

    def __call__(self, d: dict) -> dict:
        t = torch.as_tensor(d[self.key], dtype=torch.float32)
        shape = (-1,) + (1,) * (t.dim() - 1)
        mean = torch.tensor(self.mean[: t.shape[0]] if len(self.mean) > 1 else self.mean).view(shape)
        std = torch.tensor(self.std[: t.shape[0]] if len(self.std) > 1 else self.std).view(shape)
        return {**d, self.key: ((t - mean) / std).contiguous()}


@dataclass
class LoadVolumed:
    """Path -> (1, D, H, W) float32 in physical units (HU for CT), resampled to `spacing` (mm) if given."""

    key: str = "volume"
    spacing: tuple[float, float, float] | None = None

    def __call__(self, d: dict) -> dict:
        x = d[self.key]
        arr = io.read_volume(x, self.spacing)[0] if isinstance(x, (str, Path)) else np.asarray(x, np.float32)
        return {**d, self.key: torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None]}


@dataclass
class LoadECGd:
    """Path -> (leads, samples) float32 in mV at `rate` Hz, standard lead order; arrays are taken as `rate`."""

    key: str = "ecg"
    rate: float = 500.0

    def __call__(self, d: dict) -> dict:
        x = d[self.key]
        if isinstance(x, (str, Path)):
            arr = io.read_ecg(x, rate=self.rate)[0]
        else:
            arr = np.asarray(x, np.float32)
            arr = arr if arr.ndim == 2 else arr.reshape(1, -1)
        return {**d, self.key: torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))}


@dataclass
class LeadsD:
    """Keep the first `leads` leads, zero-padding when there are fewer."""

    key: str
    leads: int

    def __call__(self, d: dict) -> dict:
        t = torch.as_tensor(d[self.key])[: self.leads]
        return {**d, self.key: F.pad(t, (0, 0, 0, self.leads - t.shape[0]))}


def _plain(key: str) -> Transform:
    """MONAI returns MetaTensors; the model and the collator want plain tensors."""
    return lambda d: {**d, key: torch.as_tensor(d[key]).as_subclass(torch.Tensor).float().contiguous()}


def pipeline(modality: str, s: Any) -> list[Transform]:
    """The default transforms for `modality` from `ProcessorSettings` `s`."""
    if modality == "image":
        return [LoadImaged("image", s.image_window), ChannelsD("image", s.image_channels),
                ResizeImaged("image", s.image_size), NormalizeD("image", s.image_mean, s.image_std)]
    from monai.transforms import ResizeWithPadOrCropd, Resized, ScaleIntensityRanged

    if modality == "volume":
        lo, hi = s.hu_window
        return [LoadVolumed("volume", tuple(s.volume_spacing) if s.volume_spacing else None),
                ScaleIntensityRanged("volume", a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True),
                Resized("volume", spatial_size=tuple(s.volume_size), mode="trilinear"), _plain("volume")]
    return [LoadECGd("ecg", float(s.ecg_rate)), LeadsD("ecg", s.ecg_leads),
            ResizeWithPadOrCropd("ecg", spatial_size=(s.ecg_samples,), method="end"), _plain("ecg"),
            NormalizeD("ecg", [0.0], [s.ecg_scale])]


def _to_unit(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    return arr if lo >= 0.0 and hi <= 1.0 else (arr - lo) / max(hi - lo, 1e-6)
