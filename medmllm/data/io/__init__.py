"""Readers for medical files, dispatched on content: PNG/JPEG/TIFF/BMP, DICOM (image, multi-frame,
series folder, waveform ECG), NIfTI, NumPy `.npy`, WFDB ECG records.

`load(path)` returns a `Loaded` with the physical values (HU for CT, mV for ECG), spacing or
sampling rate and what the file says about itself; `medmllm data inspect` prints its summary.
`read_image`, `read_volume` and `read_ecg` give what the processor needs: an image in [0, 1]
(windowed), a (D, H, W) volume with its spacing, an ECG with its rate and leads in standard order.
Every problem is a `MedMLLMError("<file>: what is wrong")`.
"""
from __future__ import annotations

import dataclasses

import warnings
from pathlib import Path

import numpy as np

from ...errors import MedMLLMError, brief
from . import limits
from .base import WINDOW_PRESETS, Loaded, apply_window, min_max, resolve_window
from .dicom import dicom_to_unit, load_dicom, load_series
from .ecg import STANDARD_LEADS, load_wfdb, order_leads, resample_signal
from .sniff import detect_format, wfdb_header
from .volume import load_nifti, load_npy, read_npy, resample

__all__ = ["Loaded", "load", "read_image", "as_image", "read_volume", "read_ecg", "detect_format", "WINDOW_PRESETS",
           "STANDARD_LEADS", "apply_window", "resample", "resample_signal"]

_PIL_FORMATS = {"png", "jpeg", "tiff", "bmp", "gif"}


def load(path: str | Path) -> Loaded:
    """Read any supported file (or a folder holding one DICOM series) as it is, without windowing."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt in _PIL_FORMATS:
        return _load_pil(path, fmt)
    if fmt == "dicom":
        return load_dicom(path)
    if fmt == "dicom-series":
        return load_series(path)
    if fmt == "nifti":
        return load_nifti(path)
    if fmt == "npy":
        return load_npy(path)
    return load_wfdb(path, wfdb_header(path))  # fmt == "wfdb"


def _load_pil(path: Path, fmt: str) -> Loaded:
    from PIL import Image, UnidentifiedImageError

    try:
        Image.MAX_IMAGE_PIXELS = limits.current().pixels  # PIL's own bomb check: a warning past it
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size  # from the header: checked before decoding
                limits.check(path, f"image of {width} × {height} =", width * height, "pixels")
                im.load()
                mode = im.mode
                im = im.convert("RGB") if mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "PA") else im.convert("F")
                arr = np.asarray(im, dtype=np.float32)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # PIL's check, at open
        raise MedMLLMError(f"{path}: image exceeds the limit of {limits.current().pixels:,} pixels (raise it with "
                           f"--max-pixels or {limits.ENV['pixels']}; {brief(e)})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise MedMLLMError(f"{path}: not a readable {fmt.upper()} image ({e.__class__.__name__}: "
                           f"{brief(e)})") from None
    eight = mode in ("1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr")
    stored = "uint8" if eight else {"I;16": "uint16", "I;16B": "uint16", "I": "int32", "F": "float32"}.get(mode, mode)
    bits = 8 if eight else {"uint16": 16}.get(stored, 32)
    return Loaded("image", arr, fmt, meta={"stored_dtype": stored, "mode": mode, "bit_depth": bits})


def read_image(path: str | Path, window: str | tuple[float, float] | None = None) -> np.ndarray:
    """A 2D image as float32 in [0, 1], (H, W) grey or (H, W, 3) colour.

    DICOM: modality LUT, then `window` (a preset name such as "lung" or (centre, width) in HU) or
    else the file's VOI LUT / WindowCenter-Width or else its full range; MONOCHROME1 inverted.
    A volume (multi-frame DICOM, NIfTI) gives its middle slice."""
    path = Path(path)
    return as_image(load(path), path, window)


def as_image(loaded: Loaded, path: Path, window: str | tuple[float, float] | None = None) -> np.ndarray:
    """`read_image` of a file already loaded (`load`): its array in [0, 1] with the same rules."""
    win = resolve_window(window, path)
    if loaded.kind == "signal":
        raise MedMLLMError(f"{path}: is a {loaded.format} signal, not an image")
    if loaded.format == "dicom" and loaded.kind == "volume":  # a multi-frame file: its middle frame
        loaded = dataclasses.replace(loaded, array=loaded.array[len(loaded.array) // 2], kind="image")
    if loaded.format == "dicom" and loaded.kind == "image":
        return dicom_to_unit(path, loaded, win)
    arr = loaded.array
    if loaded.kind == "volume":
        arr = arr[len(arr) // 2]
    if win is not None:
        return apply_window(arr, *win)
    if loaded.kind == "image" and loaded.meta.get("bit_depth") == 8:
        return np.clip(arr / 255.0, 0.0, 1.0).astype(np.float32)
    return min_max(arr)


def read_volume(path: str | Path, spacing: tuple[float, float, float] | None = None) -> tuple[np.ndarray, tuple[float, ...]]:
    """A 3D volume as float32 (D, H, W), slices first, in physical units (HU for CT), and its spacing
    (mm) in the same order; resampled to `spacing` when given. Takes NIfTI (reoriented to RAS),
    `.npy` (D, H, W), a multi-frame DICOM, or a folder holding one DICOM series."""
    path = Path(path)
    loaded = load(path)
    if loaded.kind != "volume":
        raise MedMLLMError(f"{path}: is a {loaded.format} {loaded.kind}, not a 3D volume")
    if loaded.array.ndim != 3:
        raise MedMLLMError(f"{path}: expected a 3D volume, got shape {list(loaded.array.shape)}")
    data, current = loaded.array, tuple(loaded.spacing or (1.0, 1.0, 1.0))
    if spacing is not None:
        data, current = resample(data, current, tuple(spacing)), tuple(float(s) for s in spacing)
    return data, current


def read_ecg(path: str | Path, rate: float | None = None, standard_order: bool = True) -> tuple[np.ndarray, float, list[str]]:
    """An ECG as float32 (leads, samples) in mV, its sampling rate (Hz) and lead names.

    `path`: a WFDB record (`rec`, `rec.hea` or `rec.dat`), a DICOM waveform ECG, or a `.npy`
    (leads, samples) array taken as 500 Hz. Standard 12-lead records are put in the order
    I, II, III, aVR, aVL, aVF, V1-V6; `rate` resamples (polyphase, anti-aliased)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        data = read_npy(path)
        data = data if data.ndim == 2 else data.reshape(1, -1)
        signal, fs, leads = data, 500.0, [f"lead{i}" for i in range(len(data))]
    else:
        if wfdb_header(path) is None and path.suffix.lower() in ("", ".hea", ".dat") and not path.is_file():
            raise MedMLLMError(f"{path}: WFDB header '{path.with_suffix('').name}.hea' not found")
        loaded = load(path)
        if loaded.kind != "signal":
            raise MedMLLMError(f"{path}: is a {loaded.format} {loaded.kind}, not an ECG")
        signal, fs, leads = loaded.array, float(loaded.sampling_rate), list(loaded.leads or [])
    if standard_order:
        signal, leads = order_leads(signal, leads)
    if rate is not None:
        signal, fs = resample_signal(signal, fs, float(rate)), float(rate)
    return signal, fs, leads
