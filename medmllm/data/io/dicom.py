"""DICOM: single- and multi-frame images, series -> volume, and waveform ECGs.

Values keep their physical meaning: the modality LUT (rescale slope/intercept) is applied,
so CT is in HU; windowing happens later (`read_image`), from the tags or a named preset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import MedMLLMError, brief
from .base import Loaded

_COLOUR = ("RGB", "YBR")


def read_dataset(path: Path, header_only: bool = False):
    """The dataset; a file without the preamble and file meta (older DICOM) is read with force."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from .sniff import looks_like_raw_dicom

    try:
        try:
            return pydicom.dcmread(path, stop_before_pixels=header_only)
        except InvalidDicomError:
            with open(path, "rb") as f:
                if not looks_like_raw_dicom(f.read(16)):
                    raise
            return pydicom.dcmread(path, stop_before_pixels=header_only, force=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise MedMLLMError(f"{path}: not a readable DICOM file ({brief(e)})") from None


def transfer_syntax(ds) -> str:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return f"{ts.name} ({ts})" if ts is not None else "unknown"


def _pixels(ds, path: Path) -> np.ndarray:
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise MedMLLMError(f"{path}: DICOM file has no pixel data")
    try:
        return ds.pixel_array
    except Exception as e:  # pydicom raises RuntimeError/ValueError/NotImplementedError... per codec
        msg = brief(e)
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
        return {"center": first(ds.WindowCenter), "width": first(ds.WindowWidth), "source": "tags",
                "function": str(getattr(ds, "VOILUTFunction", "") or "LINEAR").upper()}
    return None


def _physical(ds, pixels: np.ndarray) -> np.ndarray:
    """Modality LUT for greyscale (CT -> HU); palette colour through its LUT; other colour as stored."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    photometric = str(getattr(ds, "PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, ds).astype(np.float32)
        return rgb / (257.0 if rgb.max() > 255 else 1.0)  # 16-bit palette entries -> 0..255
    if photometric.startswith(_COLOUR):
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
    colour = values.ndim == pixels.ndim + 1 or str(getattr(ds, "PhotometricInterpretation", "")).startswith(_COLOUR)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    dz, dy, dx = _spacing(ds)
    meta = {**_meta(ds, path), "stored_dtype": str(pixels.dtype)}
    if frames > 1 and not colour:
        return Loaded("volume", values, "dicom", spacing=(dz, dy, dx), modality=modality, window=tag_window(ds),
                      meta={**meta, "frames": frames})
    if frames > 1:  # a colour cine: its middle frame
        values = values[frames // 2]
    return Loaded("image", values, "dicom", spacing=(dy, dx), modality=modality, window=tag_window(ds),
                  meta={**meta, "frames": frames})


def _spacing(ds) -> tuple[float, float, float]:
    """(slice, row, column) spacing in mm: the plain tags, else an enhanced multi-frame file's shared
    functional groups (PixelMeasuresSequence); 1 mm when the file does not say."""
    measures = None
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if group in ds and len(getattr(ds, group)) and "PixelMeasuresSequence" in getattr(ds, group)[0]:
            measures = getattr(ds, group)[0].PixelMeasuresSequence[0]
            break
    src = measures if measures is not None else ds
    dy, dx = (float(v) for v in (getattr(src, "PixelSpacing", None) or getattr(ds, "ImagerPixelSpacing", None) or [1, 1]))
    dz = float(getattr(src, "SpacingBetweenSlices", 0) or getattr(src, "SliceThickness", 0) or 0)
    if not dz and len(getattr(ds, "GridFrameOffsetVector", []) or []) > 1:  # RT dose grids
        dz = abs(float(ds.GridFrameOffsetVector[1]) - float(ds.GridFrameOffsetVector[0]))
    return dz or 1.0, dy, dx


def dicom_to_unit(path: Path, loaded: Loaded, window: tuple[float, float] | None) -> np.ndarray:
    """A greyscale DICOM image in [0, 1]: the given window, else the file's VOI LUT / window, else its
    full range; MONOCHROME1 inverted so that bright is always dense."""
    values = loaded.array
    if values.ndim == 3:  # colour (RGB, YBR, palette): 0..255 to [0, 1]
        return np.clip(values / (255.0 if values.max() > 1 else 1.0), 0, 1).astype(np.float32)
    from .base import apply_window, min_max

    if window is not None:
        arr = apply_window(values, *window)
    elif loaded.window and loaded.window["source"] == "voi_lut_sequence":
        from pydicom.pixels import apply_voi_lut

        arr = min_max(np.asarray(apply_voi_lut(values, read_dataset(path, header_only=True)), dtype=np.float32))
    elif loaded.window:
        arr = apply_window(values, loaded.window["center"], loaded.window["width"], loaded.window.get("function", "LINEAR"))
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
        raise MedMLLMError(f"{path}: unreadable DICOM waveform ({brief(e)})") from None
    return (data * np.asarray(scale)).T.astype(np.float32), rate, names


def _lead_name(meaning: str) -> str:
    name = str(meaning).replace("Lead", "").split("(")[0].strip()
    return name or str(meaning)


# -- series -> volume ---------------------------------------------------------------------------
def load_series(folder: Path, series_uid: str | None = None) -> Loaded:
    """The DICOM files of one folder as a volume (D, H, W): sorted by ImagePositionPatient along the
    slice normal, slice spacing from the positions, orientation kept in `meta`. Refused: mixed
    series or orientations, duplicate positions, gaps that differ by over 10% (missing slices)."""
    uid, files = _series_files(folder, series_uid)
    first = files[0][1]
    orientation = [float(v) for v in getattr(first, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0])]
    for p, ds in files:
        if "ImageOrientationPatient" in ds and np.abs(np.subtract([float(v) for v in ds.ImageOrientationPatient],
                                                                  orientation)).max() > 1e-3:
            raise MedMLLMError(f"{p}: orientation differs from the rest of series {uid}")
    files, dz, uneven = _sort_by_position(files, np.cross(orientation[:3], orientation[3:]), uid, folder)
    slices, stored = [], None
    for p, _ in files:
        ds = read_dataset(p)
        pixels = _pixels(ds, p)
        arr, stored = _physical(ds, pixels), stored or str(pixels.dtype)
        if arr.ndim != 2:
            raise MedMLLMError(f"{p}: a series needs single-frame greyscale slices, this one has shape {list(arr.shape)}")
        if slices and arr.shape != slices[0].shape:
            raise MedMLLMError(f"{p}: slice shape {arr.shape} differs from the series' {slices[0].shape}")
        slices.append(arr)
    dy, dx = (float(v) for v in getattr(first, "PixelSpacing", [1, 1]))
    meta = {**_meta(first, files[0][0]), "files": len(files), "series_uid": uid, "orientation": orientation,
            "origin": [float(v) for v in getattr(files[0][1], "ImagePositionPatient", [0, 0, 0])],
            "uneven_spacing": uneven, "stored_dtype": stored}
    return Loaded("volume", np.stack(slices).astype(np.float32), "dicom-series", spacing=(abs(dz), dy, dx),
                  modality=str(getattr(first, "Modality", "")) or None, window=tag_window(first), meta=meta)


def _series_files(folder: Path, series_uid: str | None) -> tuple[str, list[tuple[Path, object]]]:
    """(series UID, [(file, header)]) of the one series in `folder` (or the one asked for)."""
    headers: dict[str, list[tuple[Path, object]]] = {}
    entries = sorted(q for q in folder.iterdir() if not q.name.startswith("."))
    for p in (q for q in entries if q.is_file()):
        try:
            ds = read_dataset(p, header_only=True)
        except MedMLLMError:
            continue  # a README, DICOMDIR companion or thumbnail: not part of the series
        if "SeriesInstanceUID" in ds and ("PixelData" in ds or "Rows" in ds):
            headers.setdefault(str(ds.SeriesInstanceUID), []).append((p, ds))
    if not headers:
        subfolders = sum(q.is_dir() for q in entries)
        hint = f" ({subfolders} subfolder(s): give the folder of one series)" if subfolders else ""
        raise MedMLLMError(f"{folder}: no DICOM images in this folder{hint}")
    if series_uid is None and len(headers) > 1:
        counts = ", ".join(f"{uid} ({len(v)} files)" for uid, v in headers.items())
        raise MedMLLMError(f"{folder}: {len(headers)} series in one folder ({counts}); put each series in its own folder")
    uid = series_uid or next(iter(headers))
    if uid not in headers:
        raise MedMLLMError(f"{folder}: no series {uid}")
    return uid, headers[uid]


def _sort_by_position(files: list, normal: np.ndarray, uid: str, folder: Path) -> tuple[list, float, bool]:
    """Files sorted along the slice normal, the median slice gap, and whether gaps vary by 1-10%."""
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
    if not len(gaps):
        return files, float(getattr(files[0][1], "SliceThickness", 1) or 1), False
    dz = float(np.median(gaps))
    spread = float(np.max(np.abs(gaps - dz)))
    if spread > 0.1 * abs(dz):
        raise MedMLLMError(f"{folder}: uneven slice spacing in series {uid} (gaps {gaps.min():.3g} to "
                           f"{gaps.max():.3g} mm): missing slices?")
    return files, dz, spread > 0.01 * abs(dz)
