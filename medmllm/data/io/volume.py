"""3D volumes: NIfTI (reoriented to RAS), NumPy `.npy` (the M3D convention), and resampling."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import MedMLLMError, brief
from . import limits
from .base import Loaded


def load_nifti(path: Path) -> Loaded:
    """A NIfTI file reoriented to the closest canonical (RAS+) orientation, as (D, H, W) = (z, y, x)."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
    except Exception as e:
        raise MedMLLMError(f"{path}: not a readable NIfTI volume ({brief(e)})") from None
    try:
        _check_header(img, path)
        original = "".join(nib.aff2axcodes(img.affine))
        img = nib.as_closest_canonical(img)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except MedMLLMError:
        raise
    except Exception as e:  # nibabel raises many types for bad headers and truncated data
        raise MedMLLMError(f"{path}: not a readable NIfTI volume ({brief(e)})") from None
    shape = list(data.shape)
    if data.ndim == 4:  # a time series or multi-echo image: its first volume (named in meta)
        data = data[..., 0]
    if data.ndim != 3:
        raise MedMLLMError(f"{path}: expected a 3D volume, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise MedMLLMError(f"{path}: voxel data holds NaN or infinite values (after the scale slope/intercept)")
    zooms = tuple(float(s) for s in img.header.get_zooms()[:3])
    return Loaded("volume", np.ascontiguousarray(data.transpose(2, 1, 0)), "nifti", spacing=zooms[::-1],
                  meta={"stored_dtype": str(img.get_data_dtype()), "file_shape": shape,
                        "volumes_in_file": shape[3] if len(shape) == 4 else 1, "orientation": original, "reoriented_to": "RAS", "affine": img.affine.round(6).tolist()})


def _check_header(img, path: Path) -> None:
    """The shape, size and spacing the header claims, checked before any voxel is read (nibabel reads
    exactly shape × itemsize bytes from a .nii.gz stream, so this also bounds the decompression)."""
    shape = [int(n) for n in img.shape]
    voxels = int(np.prod(shape, dtype=np.float64))
    limits.check(path, f"dim {'×'.join(map(str, shape))} =", voxels, "voxels")
    limits.check(path, "voxel data of", voxels * max(img.get_data_dtype().itemsize, 4), "bytes")
    zooms = img.header.get_zooms()[:3]  # nibabel already sets zero pixdims to 1; NaN and inf stay
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        raise MedMLLMError(f"{path}: pixdim (voxel spacing) must be finite and positive, got {[float(z) for z in zooms]}")


def read_npy(path: Path) -> np.ndarray:
    """A real-valued `.npy` array as float32 (no pickles; complex arrays refused)."""
    from .sniff import _exists

    try:
        with open(_exists(path), "rb") as f:  # the header first: its shape is checked before the data is read
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape = read(f)[0]
        limits.check(path, f"shape {'×'.join(map(str, shape))} =", int(np.prod(shape, dtype=np.float64)), "voxels")
        data = np.load(path, allow_pickle=False)
    except MedMLLMError:
        raise
    except Exception as e:
        raise MedMLLMError(f"{path}: not a readable .npy array ({brief(e)})") from None
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)
            or data.dtype == np.bool_):
        raise MedMLLMError(f"{path}: .npy array has dtype {data.dtype}; expected real numbers")
    return data


def load_npy(path: Path) -> Loaded:
    """A `.npy` array: 3D (D, H, W) or with a leading channel of 1 (M3D's (1, 32, 256, 256)) is a
    volume; 2D is an image; (leads, samples) with few rows is not guessed: use read_ecg for that."""
    data = read_npy(path)
    stored = str(data.dtype)
    data = data.astype(np.float32).squeeze()
    if data.ndim == 3:
        return Loaded("volume", data, "npy", spacing=(1.0, 1.0, 1.0), meta={"stored_dtype": stored, "spacing_known": False})
    if data.ndim == 2:
        return Loaded("image", data, "npy", spacing=(1.0, 1.0), meta={"stored_dtype": stored, "spacing_known": False})
    raise MedMLLMError(f"{path}: expected a 2D or 3D array, got shape {data.shape}")


def resample(volume: np.ndarray, spacing: tuple[float, ...], target: tuple[float, ...]) -> np.ndarray:
    """Trilinear resampling of (D, H, W) from `spacing` to `target` mm (same physical extent)."""
    import torch
    from torch.nn import functional as F

    size = tuple(max(1, round(n * s / t)) for n, s, t in zip(volume.shape, spacing, target))
    if size == volume.shape:
        return volume
    t = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
    return F.interpolate(t, size=size, mode="trilinear", align_corners=False)[0, 0].numpy()
