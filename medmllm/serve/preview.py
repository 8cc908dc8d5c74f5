"""`POST /v1/medmllm/preview`: one uploaded file rendered as the page shows it.

The file is read as a chat part is (`media.materialize`: base64 -> a private temporary folder,
removed when done; a zip holds a DICOM series or a WFDB record), by the same readers, within the
same size limits. What comes back is small PNG data URLs, so the page draws nothing itself:

- an image: one PNG (long side at most 1024 px), windowed when it is greyscale DICOM;
- a volume (NIfTI, multi-frame DICOM, DICOM series): at most 64 evenly spaced axial slices, each
  at most 256 px, windowed alike, for a slider that needs no further request; NIfTI (RAS+) is
  shown as radiologists view it: anterior up, the patient's right on the left;
- an ECG: one plot of the first 10 s on ECG paper (25 mm/s, 10 mm/mV), in the standard 3 × 4
  layout with a lead II rhythm strip when the record has the 12 standard leads, else one row per
  lead (at most 16).

Windows (DICOM greyscale and volumes) are listed with the file's own first, then the full range,
then `io.WINDOW_PRESETS`; a request picks one by id or gives [centre, width] in stored units (HU
for CT). Errors are 400s naming `file_data` or `window`, never the file name or a path.
"""
from __future__ import annotations

import base64
import dataclasses
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

from ..data import io
from ..data.io.base import resolve_window
from ..data.io.dicom import dicom_to_unit
from ..data.io.ecg import STANDARD_LEADS, order_leads
from ..errors import MedMLLMError
from .media import PIL_FORMATS, guarded, materialize
from .protocol import APIError, FileData, FilePart, Strict

MAX_SLICES, SLICE_PX, IMAGE_PX = 64, 256, 1024
ECG_SECONDS, ECG_MAX_ROWS = 10.0, 16
WHERE = "file_data"


class PreviewRequest(Strict):
    file_data: str
    """A base64 `data:` URL (or bare base64): the same bytes a chat `file` or `image_url` part carries."""
    filename: str | None = None
    """Ignored (accepted so the page can send what it sends in a chat part)."""
    window: str | list[float] | None = None
    """A window id from `windows` ("file", "auto", "lung", ...) or [centre, width]; None: the file's own."""


def render(req: PreviewRequest, max_unzipped: int) -> dict:
    """The preview of one file (see the module docstring), or an `APIError`."""
    with tempfile.TemporaryDirectory(prefix="medmllm-preview-") as tmp:
        part = FilePart(type="file", file=FileData(file_data=req.file_data, filename=req.filename))
        try:
            path = materialize(part, Path(tmp) / "upload", "", None, max_unzipped)
        except APIError as e:
            raise APIError(e.status, e.message.replace(".file.file_data", WHERE, 1), param=WHERE, code=e.code) from None
        fmt = guarded(WHERE, path, io.detect_format, path)
        if fmt not in PIL_FORMATS and fmt not in ("dicom", "dicom-series", "nifti", "wfdb"):
            raise APIError(400, f"{WHERE}: {fmt} arrays are not shown here; send PNG, JPEG, TIFF, DICOM, NIfTI "
                                "or a zipped WFDB record", param=WHERE)
        loaded = guarded(WHERE, path, io.load, path)
        out = {"kind": {"signal": "ecg"}.get(loaded.kind, loaded.kind), "format": loaded.format,
               "modality": loaded.modality, "shape": list(loaded.array.shape), "windows": [], "window": None}
        if loaded.kind == "signal":
            return {**out, **_ecg(loaded)}
        windows = _windows(loaded) if _windowed(loaded) else []
        chosen = _choose(req.window, windows, loaded.format)
        out.update(windows=windows, window=chosen)
        if loaded.kind == "volume":
            return {**out, **_volume(loaded, chosen)}
        return {**out, "images": [guarded(WHERE, path, _image, path, loaded, chosen)]}


# -- windows -------------------------------------------------------------------------------------
def _windowed(loaded) -> bool:
    """Greyscale values with a physical meaning: DICOM (not colour) and volumes."""
    return loaded.kind == "volume" or (loaded.format == "dicom" and loaded.array.ndim == 2)


def _windows(loaded) -> list[dict]:
    out = []
    own = loaded.window
    if own and own.get("center") is not None:
        out.append(_entry("file", own["center"], own["width"], function=own.get("function", "LINEAR")))
    elif own and loaded.kind == "image":  # a VOI LUT sequence: the file's own table
        out.append({"id": "file", "label": "file (VOI LUT)", "center": None, "width": None})
    out.append({"id": "auto", "label": "full range", "center": None, "width": None})
    out += [_entry(name, c, w) for name, (c, w) in io.WINDOW_PRESETS.items()]
    return out


def _entry(name: str, center: float, width: float, function: str = "LINEAR") -> dict:
    return {"id": name, "label": f"{name} ({center:g}/{width:g})", "center": float(center), "width": float(width),
            "function": function}


def _choose(window, windows: list[dict], fmt: str) -> dict | None:
    if not windows:
        if window is not None:
            raise APIError(400, f"window: this {fmt.upper()} image is shown as stored; windows apply to greyscale "
                                "DICOM and volumes", param="window")
        return None
    if window is None:
        return windows[0]
    if isinstance(window, list):
        try:
            center, width = resolve_window(window) if len(window) == 2 else (None, None)
        except MedMLLMError as e:
            raise APIError(400, f"window: {str(e).removeprefix(': ')}", param="window") from None
        if center is None:
            raise APIError(400, "window: give [centre, width]", param="window")
        return {**_entry("custom", center, width), "id": "custom"}
    for entry in windows:
        if entry["id"] == window.lower():
            return entry
    raise APIError(400, f"window: unknown window '{window[:40]}'; choose from "
                        f"{', '.join(w['id'] for w in windows)} or give [centre, width]", param="window")


def _unit(values: np.ndarray, window: dict, lo: float, hi: float) -> np.ndarray:
    """Stored values -> [0, 1] under a window entry ("auto": `lo`..`hi`)."""
    if window["center"] is None:
        return np.clip((values.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return io.apply_window(values, window["center"], window["width"], window.get("function", "LINEAR"))


# -- images and volumes --------------------------------------------------------------------------
def _image(path: Path, loaded, window: dict | None) -> str:
    if loaded.format == "dicom":
        if window is None or window["id"] == "file":
            arr = dicom_to_unit(path, loaded, None)
        elif window["id"] == "auto":
            arr = dicom_to_unit(path, dataclasses.replace(loaded, window=None), None)
        else:
            arr = dicom_to_unit(path, loaded, (window["center"], window["width"]))
    else:
        arr = io.as_image(loaded, path)
    return _png(arr, loaded.spacing, IMAGE_PX)


def _volume(loaded, window: dict) -> dict:
    values = loaded.array
    depth = len(values)
    picked = np.unique(np.linspace(0, depth - 1, min(depth, MAX_SLICES)).round().astype(int))
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    flip = loaded.format == "nifti"  # RAS+: rows run posterior -> anterior, columns the patient's left -> right
    invert = loaded.meta.get("photometric") == "MONOCHROME1"
    images = []
    for k in picked:
        arr = _unit(values[k], window, lo, hi)
        arr = arr[::-1, ::-1] if flip else arr
        images.append(_png(1.0 - arr if invert else arr, (loaded.spacing or (1, 1, 1))[1:], SLICE_PX))
    return {"images": images, "slices": picked.tolist(), "depth": depth,
            "spacing": [float(s) for s in loaded.spacing] if loaded.spacing else None}


def _png(arr: np.ndarray, spacing, cap: int) -> str:
    """[0, 1] (H, W) or (H, W, 3) -> a PNG data URL, the long side at most `cap` px, square pixels."""
    from PIL import Image

    pixels = (np.nan_to_num(np.clip(arr, 0.0, 1.0)) * 255 + 0.5).astype(np.uint8)
    im = Image.fromarray(np.ascontiguousarray(pixels), "RGB" if pixels.ndim == 3 else "L")
    h, w = pixels.shape[:2]
    dy, dx = (float(spacing[0]), float(spacing[1])) if spacing and len(spacing) == 2 else (1.0, 1.0)
    tall, wide = h * dy, w * dx
    longest = min(cap, max(h, w))
    if wide >= tall:
        size = (longest, max(1, round(longest * tall / wide)))
    else:
        size = (max(1, round(longest * wide / tall)), longest)
    if size != (w, h):
        im = im.resize(size, Image.Resampling.LANCZOS if size[0] < w else Image.Resampling.BILINEAR)
    return _data_url(im)


def _data_url(im) -> str:
    buf = BytesIO()
    im.save(buf, "PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# -- ECG -----------------------------------------------------------------------------------------
_GRID_3X4 = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]]


def _ecg(loaded) -> dict:
    signal, leads = order_leads(loaded.array, list(loaded.leads or [f"lead {i + 1}" for i in range(len(loaded.array))]))
    fs = float(loaded.sampling_rate)
    seconds = min(ECG_SECONDS, signal.shape[1] / fs)
    shown = signal[:, : int(round(seconds * fs))].astype(np.float32)
    if leads == STANDARD_LEADS:
        rows = [[(name, c * seconds / 4, (c + 1) * seconds / 4) for c, name in enumerate(row)] for row in _GRID_3X4]
        rows.append([("II", 0.0, seconds)])
    else:
        rows = [[(name, 0.0, seconds)] for name in leads[:ECG_MAX_ROWS]]
    image = _ecg_plot(shown, fs, leads, rows, seconds)
    return {"images": [image], "leads": leads, "sampling_rate": fs, "duration_s": signal.shape[1] / fs,
            "shown_s": seconds, "layout": "3x4+II" if leads == STANDARD_LEADS else "rows"}


def _ecg_plot(signal: np.ndarray, fs: float, leads: list[str], rows: list, seconds: float) -> str:
    """Rows of (lead, start s, end s) segments on ECG paper: 1 s = 25 mm, 1 mV = 10 mm, 3 mV a row."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MultipleLocator
    from PIL import Image

    height = 3.0 * len(rows)
    width_in = 11.0
    fig = Figure(figsize=(width_in, width_in * (height * 10) / (seconds * 25)), dpi=100, facecolor="#fffdfc")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, seconds)
    ax.set_ylim(0, height)
    for axis, major, minor in ((ax.xaxis, 0.2, 0.04), (ax.yaxis, 0.5, 0.1)):
        axis.set_major_locator(MultipleLocator(major))
        axis.set_minor_locator(MultipleLocator(minor))
    ax.grid(which="minor", color="#f7d9d9", linewidth=0.4)
    ax.grid(which="major", color="#eba7a7", linewidth=0.7)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_facecolor("#fffdfc")
    for spine in ax.spines.values():
        spine.set_visible(False)
    for r, row in enumerate(rows):
        base = height - 1.5 - 3.0 * r
        for name, start, end in row:
            a, b = int(round(start * fs)), int(round(end * fs))
            segment = signal[leads.index(name), a:b]
            if segment.size == 0:
                continue
            finite = segment[np.isfinite(segment)]
            centre = float(np.median(finite)) if finite.size else 0.0
            ax.plot(np.arange(a, a + segment.size) / fs, segment - centre + base, color="#111418", linewidth=0.8)
            ax.text(start + 0.04, base + 1.0, name, fontsize=10, fontweight="bold", color="#111418")
            if start > 0:
                ax.plot([start, start], [base - 0.4, base + 0.4], color="#111418", linewidth=1.0)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return _data_url(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]))
