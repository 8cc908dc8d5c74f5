"""3D and 1D inputs made readable for 2D vision-language models: a CT/MRI volume as an ordered set
of windowed slices, an ECG as a 12-lead paper plot (`medmllm/vlm` sends them as images).

* Slices: the volume (D, H, W, slices first: a DICOM series sorted by position along its normal, or
  NIfTI as RAS+) is turned into the wanted plane in its radiological display (`to_plane`, from the
  acquisition's orientation: axial slices from the feet up, anterior at the top, the patient's right
  on the image's left), `k` slices are taken evenly from first to last (`pick`), and each is
  windowed into channels (`windowed`): one window is grey, three are one per colour channel, as
  MedGemma 1.5 reads CT (wide, soft tissue and brain windows as R, G and B); no window maps the
  volume's own range (MRI).
* ECG paper (`ecg_paper`): the standard 3 x 4 layout (I, aVR, V1, V4 / II, aVL, V2, V5 / III, aVF,
  V3, V6; 2.5 s each) with a 10 s lead II rhythm strip below, at 25 mm/s and 10 mm/mV on a 1 mm / 5 mm
  grid, as printed ECGs and the ECG image models trained on them (PULSE, GEM) expect.
"""
from __future__ import annotations

import numpy as np

from .io.base import apply_window, min_max, resolve_window

PLANES = ("axial", "coronal", "sagittal")
# The radiological display of each plane, in patient (DICOM LPS) directions: the direction the slices
# advance in, then the one image rows go down, then the one image columns go right. Axial: from the feet
# up, anterior at the top, the patient's right on the image's left; coronal: from the front back,
# superior at the top; sagittal: from right to left, superior at the top, anterior on the left.
DISPLAY = {"axial": ((0, 0, 1), (0, 1, 0), (1, 0, 0)),
           "coronal": ((0, 1, 0), (0, 0, -1), (1, 0, 0)),
           "sagittal": ((1, 0, 0), (0, 0, -1), (0, 1, 0))}
RAS_ARRAY = ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0), (-1.0, 0.0, 0.0))
"""LPS directions of the axes of a volume read from NIfTI (`io.load_nifti`: RAS+, as (z, y, x))."""


def axis_directions(orientation: list[float] | None) -> np.ndarray:
    """(3, 3): the LPS direction of each array axis (slices, rows, columns) of a volume. A DICOM series:
    columns along ImageOrientationPatient's row cosines, rows along its column cosines, slices along
    their cross product (series are sorted by position along it); None: a NIfTI volume (RAS+)."""
    if not orientation:
        return np.asarray(RAS_ARRAY)
    along_row, along_column = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    return np.stack([np.cross(along_row, along_column), along_column, along_row])


def plane_of(orientation: list[float] | None) -> str:
    """The plane a volume's slices lie in: the one whose normal its slice axis is closest to."""
    normal = axis_directions(orientation)[0]
    return max(PLANES, key=lambda p: abs(float(np.dot(normal, DISPLAY[p][0]))))


def to_plane(volume: np.ndarray, orientation: list[float] | None, plane: str) -> np.ndarray:
    """(D, H, W) -> slices of `plane` in its radiological display (`DISPLAY`): the axes permuted and
    flipped to the patient directions each follows (exact for non-oblique acquisitions, the nearest
    axis otherwise)."""
    dirs = axis_directions(orientation)
    order, flips = [], []
    for target in DISPLAY[plane]:
        dots = dirs @ np.asarray(target, float)
        axis = max((a for a in range(3) if a not in order), key=lambda a: abs(dots[a]))
        order.append(axis)
        flips.append(dots[axis] < 0)
    out = np.transpose(volume, order)
    for axis, flip in enumerate(flips):
        if flip:
            out = np.flip(out, axis)
    return np.ascontiguousarray(out)


def pick(depth: int, k: int) -> list[int]:
    """`k` slice indices spread evenly from the first slice to the last; a volume of fewer than `k` slices
    repeats some, so every volume costs a model the same number of image tokens."""
    return [int(round(i)) for i in np.linspace(0, depth - 1, k)]


def windowed(image: np.ndarray, windows: list[str] | None) -> np.ndarray:
    """A slice in physical units (H, W) -> (3, H, W) in [0, 1]: one window repeated (grey), three windows
    one per channel, or none: the slice's own range."""
    if not windows:
        return np.repeat(min_max(image)[None], 3, 0)
    channels = [apply_window(image, *resolve_window(w)) for w in windows]
    return np.stack(channels * 3 if len(channels) == 1 else channels)


def slices(volume: np.ndarray, k: int, windows: list[str] | None, orientation: list[float] | None = None,
           plane: str = "axial") -> tuple[np.ndarray, list[int]]:
    """(k, 3, H, W) windowed slices in order and their indices in the `plane` volume."""
    volume = to_plane(volume, orientation, plane)
    idx = pick(volume.shape[0], k)
    return np.stack([windowed(volume[i], windows) for i in idx]), idx


# -- ECG paper --------------------------------------------------------------------------------------
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
PX_PER_MM = 4
SPEED_MM_S, GAIN_MM_MV = 25.0, 10.0
_PAPER, _MINOR, _MAJOR, _INK = (255, 255, 255), (255, 214, 214), (240, 140, 140), (0, 0, 0)


def ecg_paper(signal: np.ndarray, rate: float, leads: list[str]) -> np.ndarray:
    """A 12-lead ECG (leads, samples) in mV at `rate` Hz, leads named as `io.read_ecg` gives them ->
    (H, W, 3) uint8, 250 mm x 110 mm at 4 px/mm. A lead missing from the record stays blank."""
    row_mm, width_mm = 27.5, 250.0
    height_mm = row_mm * (len(LAYOUT) + 1)
    h, w = int(height_mm * PX_PER_MM), int(width_mm * PX_PER_MM)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = _PAPER
    for mm in range(int(width_mm) + 1):
        img[:, min(mm * PX_PER_MM, w - 1)] = _MAJOR if mm % 5 == 0 else _MINOR
    for mm in range(int(height_mm) + 1):
        img[min(mm * PX_PER_MM, h - 1), :] = _MAJOR if mm % 5 == 0 else _MINOR
    by_name = {name: signal[i] for i, name in enumerate(leads)}
    column_s = 2.5
    for r, row in enumerate(LAYOUT):
        for c, name in enumerate(row):
            if name in by_name:
                _trace(img, by_name[name], rate, c * column_s, column_s, (r + 0.5) * row_mm)
    if "II" in by_name:  # the rhythm strip
        _trace(img, by_name["II"], rate, 0.0, width_mm / SPEED_MM_S, (len(LAYOUT) + 0.5) * row_mm)
    return img


def _trace(img: np.ndarray, lead: np.ndarray, rate: float, start_s: float, seconds: float, baseline_mm: float) -> None:
    """Draw `seconds` of `lead` from its own time `start_s` at x = start_s (25 mm/s), around `baseline_mm`
    (positive mV upward), as a 2-pixel line joining consecutive samples."""
    first, last = int(start_s * rate), min(int((start_s + seconds) * rate), len(lead))
    if last - first < 2:
        return
    t = np.arange(first, last) / rate
    x = t * SPEED_MM_S * PX_PER_MM
    y = (baseline_mm - np.nan_to_num(lead[first:last]) * GAIN_MM_MV) * PX_PER_MM
    h, w = img.shape[:2]
    x0, y0, dx, dy = x[:-1], y[:-1], np.diff(x), np.diff(y)
    n = np.ceil(np.maximum(np.abs(dx), np.abs(dy))).astype(int) + 1  # points per segment, <= 1 px apart
    seg = np.repeat(np.arange(len(n)), n)
    frac = (np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
    xs = np.clip(np.round(x0[seg] + dx[seg] * frac).astype(int), 0, w - 1)
    ys = np.clip(np.round(y0[seg] + dy[seg] * frac).astype(int), 0, h - 2)
    img[ys, xs] = _INK
    img[ys + 1, xs] = _INK
