"""DICOM: single- and multi-frame images, series -> volume, and waveform ECGs.

Values keep their physical meaning: the modality LUT (rescale slope/intercept) is applied,
so CT is in HU; windowing happens later (`read_image`), from the tags or a named preset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import MedMLLMError, brief
from . import limits
from .base import Loaded

_COLOUR = ("RGB", "YBR")
_HEADER_BYTES = 1 << 20  # a deflated file's header must inflate within its first MiB


def read_dataset(path: Path, header_only: bool = False):
    """The dataset; a file without the preamble and file meta (older DICOM) is read with force."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from .sniff import looks_like_raw_dicom

    try:
        if _is_deflated(path):
            return _read_deflated(path, header_only)
        try:
            return pydicom.dcmread(path, stop_before_pixels=header_only)
        except InvalidDicomError:
            with open(path, "rb") as f:
                if not looks_like_raw_dicom(f.read(16)):
                    raise
            return pydicom.dcmread(path, stop_before_pixels=header_only, force=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise MedMLLMError(f"{path}: not a readable DICOM file ({brief(e)})") from None


def _is_deflated(path: Path) -> bool:
    from pydicom.filereader import read_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    try:
        return read_file_meta_info(path).get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
    except Exception:  # no file meta: not deflated (dcmread reports what is wrong)
        return False


def _read_deflated(path: Path, header_only: bool):
    """A deflated-syntax file, inflated in steps: its header from the first MiB, the size it claims
    checked against the limits, then at most that many more bytes (pydicom would inflate it all at once,
    and 300 kB can inflate to gigabytes)."""
    import zlib
    from io import BytesIO

    import pydicom
    from pydicom.filereader import _read_file_meta_info, read_preamble

    with open(path, "rb") as f:
        read_preamble(f, False)
        meta = _read_file_meta_info(f)
        zipped = f.read()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data = inflater.decompress(zipped, _HEADER_BYTES)
        ds = pydicom.dcmread(BytesIO(data), force=True, stop_before_pixels=True)
        check_size(ds, path)
        if not header_only and inflater.unconsumed_tail:
            claimed = expected_bytes(ds)
            data += inflater.decompress(inflater.unconsumed_tail, claimed + _HEADER_BYTES)
            if inflater.unconsumed_tail:
                raise MedMLLMError(f"{path}: deflated data inflates beyond the {claimed:,} pixel bytes its header claims")
            ds = pydicom.dcmread(BytesIO(data), force=True)
    except zlib.error as e:
        raise MedMLLMError(f"{path}: corrupt deflated DICOM data ({brief(e)})") from None
    ds.file_meta = meta
    return ds


def _int(ds, key: str, default: int) -> int:
    value = ds.get(key, None)
    value = getattr(value, "value", value)
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def expected_bytes(ds) -> int:
    """Rows × Columns × NumberOfFrames × SamplesPerPixel × BitsAllocated / 8, from the header."""
    rows, cols = _int(ds, "Rows", 0), _int(ds, "Columns", 0)
    frames, spp, bits = _int(ds, "NumberOfFrames", 1), _int(ds, "SamplesPerPixel", 1), _int(ds, "BitsAllocated", 16)
    return rows * cols * max(frames, 1) * max(spp, 1) * max(bits, 1) // 8


def check_size(ds, path: Path) -> None:
    """The pixel size the header claims, against the limits (`limits.py`), before anything is decoded."""
    rows, cols, frames = _int(ds, "Rows", 0), _int(ds, "Columns", 0), _int(ds, "NumberOfFrames", 1)
    if rows < 0 or cols < 0 or frames < 0:
        raise MedMLLMError(f"{path}: negative Rows, Columns or NumberOfFrames in the header")
    limits.check(path, f"Rows × Columns = {rows} × {cols} =", rows * cols, "pixels")
    limits.check(path, "NumberOfFrames", frames, "frames")
    limits.check(path, f"{rows} × {cols} × {frames} frames =", rows * cols * frames, "voxels")
    limits.check(path, "pixel data of", expected_bytes(ds), "bytes")


def transfer_syntax(ds) -> str:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return f"{ts.name} ({ts})" if ts is not None else "unknown"


def _pixels(ds, path: Path) -> np.ndarray:
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise MedMLLMError(f"{path}: DICOM file has no pixel data")
    check_size(ds, path)
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
    _check_lut(ds, path)
    pixels = _pixels(ds, path)
    values = _physical(ds, pixels)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise MedMLLMError(f"{path}: pixel data holds NaN or infinite values")
    colour = values.ndim == pixels.ndim + 1 or str(getattr(ds, "PhotometricInterpretation", "")).startswith(_COLOUR)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    dz, dy, dx = _spacing(ds, path)
    meta = {**_meta(ds, path), "stored_dtype": str(pixels.dtype)}
    if frames > 1 and not colour:
        return Loaded("volume", values, "dicom", spacing=(dz, dy, dx), modality=modality, window=tag_window(ds),
                      meta={**meta, "frames": frames})
    if frames > 1:  # a colour cine: its middle frame
        values = values[frames // 2]
    return Loaded("image", values, "dicom", spacing=(dy, dx), modality=modality, window=tag_window(ds),
                  meta={**meta, "frames": frames})


def dicom_kind(path: Path) -> str:
    """What `load_dicom` makes of a file (image, volume or signal), read from its header alone: the
    same rules, with no pixel or waveform data decoded."""
    ds = read_dataset(path, header_only=True)
    if "WaveformSequence" in ds and "Rows" not in ds:  # no image tags: no pixel data follows
        return "signal"
    photometric = str(getattr(ds, "PhotometricInterpretation", ""))
    colour = photometric == "PALETTE COLOR" or photometric.startswith(_COLOUR)
    return "volume" if _int(ds, "NumberOfFrames", 1) > 1 and not colour else "image"


def _spacing(ds, path: Path) -> tuple[float, float, float]:
    """(slice, row, column) spacing in mm: the plain tags, else an enhanced multi-frame file's shared
    functional groups (PixelMeasuresSequence); 1 mm when the file does not say."""
    measures = None
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if group in ds and len(getattr(ds, group)) and "PixelMeasuresSequence" in getattr(ds, group)[0]:
            measures = getattr(ds, group)[0].PixelMeasuresSequence[0]
            break
    src = measures if measures is not None else ds
    key = "PixelSpacing" if getattr(src, "PixelSpacing", None) else "ImagerPixelSpacing"
    dy, dx = _pair(getattr(src, "PixelSpacing", None) or getattr(ds, "ImagerPixelSpacing", None) or [1, 1], key, path)
    dz = positive(getattr(src, "SpacingBetweenSlices", 0) or getattr(src, "SliceThickness", 0) or 0,
                  "SpacingBetweenSlices/SliceThickness", path, zero_ok=True)
    if not dz and len(getattr(ds, "GridFrameOffsetVector", []) or []) > 1:  # RT dose grids
        dz = abs(float(ds.GridFrameOffsetVector[1]) - float(ds.GridFrameOffsetVector[0]))
    return dz or 1.0, dy, dx


def positive(value, name: str, path: Path, zero_ok: bool = False) -> float:
    """A finite, positive number from a tag (0 allowed with `zero_ok`: 'not given'), else one line naming it."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise MedMLLMError(f"{path}: {name} is not a number ({str(value)[:40]!r})") from None
    if not np.isfinite(x) or x < 0 or (x == 0 and not zero_ok):
        raise MedMLLMError(f"{path}: {name} must be a finite positive number, got {x}")
    return x


def _pair(value, name: str, path: Path) -> tuple[float, float]:
    """PixelSpacing's (row, column) values; a single value is refused by name, not a TypeError."""
    values = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    if len(values) != 2:
        raise MedMLLMError(f"{path}: {name} has {len(values)} value(s), expected 2 (row\\column)")
    return positive(values[0], name, path), positive(values[1], name, path)


def _check_lut(ds, path: Path) -> None:
    """RescaleSlope/RescaleIntercept must be finite (a NaN slope would make every value NaN)."""
    for key in ("RescaleSlope", "RescaleIntercept"):
        if key in ds and ds[key].value not in (None, ""):
            try:
                ok = np.isfinite(float(ds[key].value))
            except (TypeError, ValueError):
                ok = False
            if not ok or (key == "RescaleSlope" and float(ds[key].value) == 0):
                raise MedMLLMError(f"{path}: {key} is {ds[key].value!r}; expected a finite, non-zero number")


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
        limits.check(path, "NumberOfWaveformSamples", _int(mg, "NumberOfWaveformSamples", 0), "samples")
        limits.check(path, "NumberOfWaveformChannels", _int(mg, "NumberOfWaveformChannels", 0), "leads")
        positive(mg.SamplingFrequency, "SamplingFrequency", path)
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
    limits.check(folder, f"series {uid} has", len(files), "frames")
    limits.check(folder, "its slices × rows × columns =", len(files) * _int(first, "Rows", 0) * _int(first, "Columns", 0), "voxels")
    orientation = [float(v) for v in getattr(first, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0])]
    for p, ds in files:
        if "ImageOrientationPatient" in ds and np.abs(np.subtract([float(v) for v in ds.ImageOrientationPatient],
                                                                  orientation)).max() > 1e-3:
            raise MedMLLMError(f"{p}: orientation differs from the rest of series {uid}")
    files, dz, uneven = _sort_by_position(files, np.cross(orientation[:3], orientation[3:]), uid, folder)
    slices, stored = [], None
    for p, _ in files:
        ds = read_dataset(p)
        _check_lut(ds, p)
        pixels = _pixels(ds, p)
        arr, stored = _physical(ds, pixels), stored or str(pixels.dtype)
        if arr.ndim != 2:
            raise MedMLLMError(f"{p}: a series needs single-frame greyscale slices, this one has shape {list(arr.shape)}")
        if slices and arr.shape != slices[0].shape:
            raise MedMLLMError(f"{p}: slice shape {arr.shape} differs from the series' {slices[0].shape}")
        slices.append(arr)
    dy, dx = _pair(getattr(first, "PixelSpacing", None) or [1, 1], "PixelSpacing", files[0][0])
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
