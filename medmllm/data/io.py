"""Readers for the medical file formats: PNG/JPEG/TIFF, DICOM, NIfTI, NumPy volumes, WFDB ECGs.

Each returns plain NumPy arrays with the physical meaning kept (HU for CT, mV for ECG) and
raises `MedMLLMError("<file>: <what is wrong>")` on a missing, empty, corrupt or wrong-type file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MedMLLMError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


def _exists(path: Path) -> Path:
    if not path.exists():
        raise MedMLLMError(f"{path}: file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise MedMLLMError(f"{path}: file is empty")
    return path


def is_dicom(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return head[128:132] == b"DICM" or path.suffix.lower() == ".dcm"


def read_image(path: str | Path) -> np.ndarray:
    """A 2D image as float32 in [0, 1], (H, W) grey or (H, W, 3) colour. DICOM gets its modality
    LUT, then its VOI LUT / window from the tags, and MONOCHROME1 is inverted."""
    path = _exists(Path(path))
    if is_dicom(path):
        return _read_dicom_image(path)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert("RGB") if im.mode in ("RGB", "RGBA", "P", "CMYK") else im.convert("F")
            arr = np.asarray(im, dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise MedMLLMError(f"{path}: not a readable image ({e.__class__.__name__}: {str(e)[:80]})") from None
    return _unit_range(arr)


def _unit_range(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    if arr.dtype == np.float32 and hi > 1.0:
        arr = arr / 255.0 if hi <= 255.0 else (arr - lo) / max(hi - lo, 1e-6)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def _dicom_pixels(path: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError) as e:
        raise MedMLLMError(f"{path}: not a readable DICOM file ({str(e)[:80]})") from None
    if "PixelData" not in ds:
        raise MedMLLMError(f"{path}: DICOM file has no pixel data")
    try:
        pixels = ds.pixel_array
    except Exception as e:  # pydicom raises several types for undecodable syntaxes
        ts = getattr(ds.file_meta, "TransferSyntaxUID", "unknown")
        raise MedMLLMError(f"{path}: cannot decode DICOM pixel data (transfer syntax {ts}: {str(e)[:80]})") from None
    return ds, pixels


def _read_dicom_image(path: Path) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds, pixels = _dicom_pixels(path)
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[len(pixels) // 2]  # a multi-frame file as a 2D image: its middle frame
    if getattr(ds, "PhotometricInterpretation", "").startswith(("RGB", "YBR")):
        return _unit_range(pixels.astype(np.float32))
    values = apply_modality_lut(pixels, ds).astype(np.float32)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds).astype(np.float32)
    lo, hi = float(values.min()), float(values.max())
    arr = (values - lo) / max(hi - lo, 1e-6)
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        arr = 1.0 - arr
    return arr.astype(np.float32)


def read_volume(path: str | Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """A 3D volume as float32 (D, H, W) (slices first) and its spacing (mm) in the same order.
    NIfTI is reoriented to the closest canonical (RAS) orientation; `.npy` is taken as (D, H, W)."""
    path = _exists(Path(path))
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        try:
            img = nib.as_closest_canonical(nib.load(str(path)))
            data = np.asarray(img.dataobj, dtype=np.float32)
        except Exception as e:  # nibabel raises many types for bad headers / truncated data
            raise MedMLLMError(f"{path}: not a readable NIfTI volume ({str(e)[:80]})") from None
        if data.ndim == 4:
            data = data[..., 0]
        if data.ndim != 3:
            raise MedMLLMError(f"{path}: expected a 3D volume, got shape {data.shape}")
        spacing = tuple(float(s) for s in img.header.get_zooms()[:3])
        return np.ascontiguousarray(data.transpose(2, 1, 0)), spacing[::-1]  # (x,y,z) -> (z,y,x)
    if name.endswith(".npy"):
        try:
            data = np.load(path, allow_pickle=False).astype(np.float32)
        except Exception as e:
            raise MedMLLMError(f"{path}: not a readable .npy array ({str(e)[:80]})") from None
        data = data.squeeze()
        if data.ndim != 3:
            raise MedMLLMError(f"{path}: expected a 3D array, got shape {data.shape}")
        return data, (1.0, 1.0, 1.0)
    if is_dicom(path):
        from pydicom.pixels import apply_modality_lut

        ds, pixels = _dicom_pixels(path)
        data = apply_modality_lut(pixels, ds).astype(np.float32)
        if data.ndim == 2:
            data = data[None]
        dz = float(getattr(ds, "SpacingBetweenSlices", 0) or getattr(ds, "SliceThickness", 1) or 1)
        dy, dx = (float(v) for v in getattr(ds, "PixelSpacing", [1, 1]))
        return data, (dz, dy, dx)
    raise MedMLLMError(f"{path}: unknown volume format (expected .nii, .nii.gz, .npy or DICOM)")


def read_ecg(path: str | Path) -> tuple[np.ndarray, float, list[str]]:
    """An ECG as float32 (leads, samples) in mV, its sampling rate (Hz) and lead names.
    `path` is a WFDB record (with or without `.hea`/`.dat`) or a `.npy` array (leads, samples)."""
    path = Path(path)
    if path.suffix.lower() in (".hea", ".dat"):
        path = path.with_suffix("")
    if path.suffix.lower() == ".npy":
        data = np.load(_exists(path), allow_pickle=False).astype(np.float32)
        return (data if data.ndim == 2 else data[None]), 500.0, [f"lead{i}" for i in range(len(data))]
    header = Path(str(path) + ".hea")
    _exists(header)
    import wfdb

    try:
        rec = wfdb.rdrecord(str(path))
    except FileNotFoundError as e:
        raise MedMLLMError(f"{header}: WFDB data file missing ({Path(e.filename or '').name or 'signal file'})") from None
    except Exception as e:  # wfdb raises ValueError/IndexError/... for malformed records
        raise MedMLLMError(f"{header}: not a readable WFDB record ({str(e)[:80]})") from None
    if rec.p_signal is None:
        raise MedMLLMError(f"{header}: WFDB record has no signal")
    return np.nan_to_num(rec.p_signal.T.astype(np.float32)), float(rec.fs), list(rec.sig_name)
