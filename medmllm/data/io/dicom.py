"""DICOM: single- and multi-frame images, series -> volume, and waveform ECGs.

Values keep their physical meaning: the modality LUT (rescale slope/intercept) is applied,
so CT is in HU; windowing happens later (`read_image`), from the tags or a named preset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import MedMLLMError
from .base import Loaded

_COLOUR = ("RGB", "YBR")


def read_dataset(path: Path, header_only: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=header_only)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as e:
        raise MedMLLMError(f"{path}: not a readable DICOM file ({str(e).splitlines()[0][:80]})") from None


def transfer_syntax(ds) -> str:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return f"{ts.name} ({ts})" if ts is not None else "unknown"


def _pixels(ds, path: Path) -> np.ndarray:
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise MedMLLMError(f"{path}: DICOM file has no pixel data")
    try:
        return ds.pixel_array
    except Exception as e:  # pydicom raises RuntimeError/ValueError/NotImplementedError... per codec
        msg = str(e).splitlines()[0][:100]
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if ts is not None and not ts.is_compressed:
            raise MedMLLMError(f"{path}: pixel data is truncated or malformed ({msg})") from None
        raise MedMLLMError(f"{path}: cannot decode pixel data, transfer syntax {transfer_syntax(ds)} ({msg}); "
                           "install the codec pydicom names (pylibjpeg-libjpeg, pyjpegls, ...) or convert the file") from None


def tag_window(ds) -> dict | None:
    """The window the file asks for: the VOI LUT sequence, or the first WindowCenter/WindowWidth."""
    if "VOILUTSequence" in ds:
        return {"center": None, "width": None, "source": "voi_lut_sequence"}
    if "WindowCenter" in ds and "WindowWidth" in ds:
        first = lambda v: float(v[0] if hasattr(v, "__len__") and not isinstance(v, str) else v)  # noqa: E731
        return {"center": first(ds.WindowCenter), "width": first(ds.WindowWidth), "source": "tags"}
    return None


def _physical(ds, pixels: np.ndarray) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut

    if str(getattr(ds, "PhotometricInterpretation", "")).startswith(_COLOUR):
        return pixels.astype(np.float32)
    return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)


def _meta(ds, path: Path) -> dict:
    return {"transfer_syntax": transfer_syntax(ds), "photometric": str(getattr(ds, "PhotometricInterpretation", "")) or None,
            "bits_stored": int(ds.BitsStored) if "BitsStored" in ds else None}


def load_dicom(path: Path) -> Loaded:
    """A DICOM file: waveform ECG -> signal, multi-frame greyscale -> volume, otherwise image."""
    ds = read_dataset(path)
    modality = str(getattr(ds, "Modality", "")) or None
    if "WaveformSequence" in ds and "PixelData" not in ds:
        signal, rate, leads = read_waveform(ds, path)
        return Loaded("signal", signal, "dicom", sampling_rate=rate, modality=modality, leads=leads,
                      meta={"transfer_syntax": transfer_syntax(ds)})
    pixels = _pixels(ds, path)
    values = _physical(ds, pixels)
    colour = str(getattr(ds, "PhotometricInterpretation", "")).startswith(_COLOUR)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    dy, dx = (float(v) for v in getattr(ds, "PixelSpacing", None) or getattr(ds, "ImagerPixelSpacing", None) or [1, 1])
    meta = {**_meta(ds, path), "stored_dtype": str(pixels.dtype)}
    if frames > 1 and not colour:
        dz = float(getattr(ds, "SpacingBetweenSlices", 0) or getattr(ds, "SliceThickness", 0) or 1)
        return Loaded("volume", values, "dicom", spacing=(dz, dy, dx), modality=modality, window=tag_window(ds),
                      meta={**meta, "frames": frames})
    if frames > 1:  # a colour cine: its middle frame
        values = values[frames // 2]
    return Loaded("image", values, "dicom", spacing=(dy, dx), modality=modality, window=tag_window(ds),
                  meta={**meta, "frames": frames})


def dicom_to_unit(path: Path, loaded: Loaded, window: tuple[float, float] | None) -> np.ndarray:
    """A greyscale DICOM image in [0, 1]: the given window, else the file's VOI LUT / window, else its
    full range; MONOCHROME1 inverted so that bright is always dense."""
    values = loaded.array
    if loaded.meta.get("photometric", "").startswith(_COLOUR):
        return np.clip(values / (255.0 if values.max() > 1 else 1.0), 0, 1).astype(np.float32)
    from .base import apply_window, min_max

    if window is not None:
        arr = apply_window(values, *window)
    elif loaded.window and loaded.window["source"] == "voi_lut_sequence":
        from pydicom.pixels import apply_voi_lut

        arr = min_max(np.asarray(apply_voi_lut(values, read_dataset(path, header_only=True)), dtype=np.float32))
    elif loaded.window:
        arr = apply_window(values, loaded.window["center"], loaded.window["width"])
    else:
        arr = min_max(values)
    if loaded.meta.get("photometric") == "MONOCHROME1":
        arr = 1.0 - arr
    return arr.astype(np.float32)


# -- waveform ECG -------------------------------------------------------------------------------
_UNIT_TO_MV = {"uV": 1e-3, "mV": 1.0, "V": 1e3}


def read_waveform(ds, path: Path, group: int = 0) -> tuple[np.ndarray, float, list[str]]:
    """The first multiplex group as (leads, samples) in mV, its rate and lead names (from the
    channel source code meanings, e.g. 'Lead I (Einthoven)' -> 'I')."""
    try:
        mg = ds.WaveformSequence[group]
        data = np.asarray(ds.waveform_array(group), dtype=np.float64)  # (samples, channels), sensitivity applied
        rate = float(mg.SamplingFrequency)
        names, scale = [], []
        for ch in mg.ChannelDefinitionSequence:
            names.append(_lead_name(ch.ChannelSourceSequence[0].CodeMeaning))
            unit = ch.ChannelSensitivityUnitsSequence[0].CodeValue if "ChannelSensitivityUnitsSequence" in ch else "mV"
            scale.append(_UNIT_TO_MV.get(str(unit), 1.0))
    except (AttributeError, IndexError, KeyError, ValueError) as e:
        raise MedMLLMError(f"{path}: unreadable DICOM waveform ({str(e).splitlines()[0][:80]})") from None
    return (data * np.asarray(scale)).T.astype(np.float32), rate, names


def _lead_name(meaning: str) -> str:
    name = str(meaning).replace("Lead", "").split("(")[0].strip()
    return name or str(meaning)


# -- series -> volume ---------------------------------------------------------------------------
def load_series(folder: Path, series_uid: str | None = None) -> Loaded:
    """The DICOM files of one folder as a volume (D, H, W): sorted by ImagePositionPatient along the
    slice normal, slice spacing from the positions, orientation kept in `meta`."""
    headers: dict[str, list[tuple[Path, object]]] = {}
    for p in sorted(q for q in folder.iterdir() if q.is_file() and not q.name.startswith(".")):
        try:
            ds = read_dataset(p, header_only=True)
        except MedMLLMError:
            continue  # a README, DICOMDIR companion or thumbnail: not part of the series
        if "SeriesInstanceUID" in ds and ("PixelData" in ds or "Rows" in ds):
            headers.setdefault(str(ds.SeriesInstanceUID), []).append((p, ds))
    if not headers:
        raise MedMLLMError(f"{folder}: no DICOM images in this folder")
    if series_uid is None and len(headers) > 1:
        counts = ", ".join(f"{uid} ({len(v)} files)" for uid, v in headers.items())
        raise MedMLLMError(f"{folder}: {len(headers)} series in one folder ({counts}); put each series in its own folder")
    uid = series_uid or next(iter(headers))
    if uid not in headers:
        raise MedMLLMError(f"{folder}: no series {uid}")
    files = headers[uid]
    first = files[0][1]
    orientation = [float(v) for v in getattr(first, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0])]
    normal = np.cross(orientation[:3], orientation[3:])
    if all("ImagePositionPatient" in ds for _, ds in files):
        pos = [float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)) for _, ds in files]
    else:
        pos = [float(getattr(ds, "InstanceNumber", i)) * float(getattr(ds, "SliceThickness", 1) or 1)
               for i, (_, ds) in enumerate(files)]
    order = np.argsort(pos, kind="stable")
    files, pos = [files[i] for i in order], [pos[i] for i in order]
    gaps = np.diff(pos)
    if len(gaps) and np.min(np.abs(gaps)) < 1e-4:
        dup = files[int(np.argmin(np.abs(gaps))) + 1][0]
        raise MedMLLMError(f"{dup}: two slices at the same position in series {uid}")
    dz = float(np.median(gaps)) if len(gaps) else float(getattr(first, "SliceThickness", 1) or 1)
    slices, stored = [], None
    for p, _ in files:
        ds = read_dataset(p)
        pixels = _pixels(ds, p)
        arr, stored = _physical(ds, pixels), stored or str(pixels.dtype)
        if slices and arr.shape != slices[0].shape:
            raise MedMLLMError(f"{p}: slice shape {arr.shape} differs from the series' {slices[0].shape}")
        slices.append(arr)
    dy, dx = (float(v) for v in getattr(first, "PixelSpacing", [1, 1]))
    uneven = bool(len(gaps) > 1 and np.max(np.abs(gaps - dz)) > 0.01 * abs(dz))
    meta = {**_meta(first, files[0][0]), "files": len(files), "series_uid": uid, "orientation": orientation,
            "origin": [float(v) for v in getattr(files[0][1], "ImagePositionPatient", [0, 0, 0])],
            "uneven_spacing": uneven, "stored_dtype": stored}
    return Loaded("volume", np.stack(slices).astype(np.float32), "dicom-series", spacing=(abs(dz), dy, dx),
                  modality=str(getattr(first, "Modality", "")) or None, window=tag_window(first), meta=meta)
