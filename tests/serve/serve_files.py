"""Files for the page and preview tests, made from MedSynth's: a CT series (DICOM slices of a NIfTI
volume, with its own window), a zipped WFDB record, base64 data URLs, and a PNG that claims 30000²."""
from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import numpy as np

from hostile_files import dicom, png


def data_url(path: Path, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode()


def ct_series(nifti: Path, folder: Path, center: float = 40, width: float = 400) -> list[Path]:
    """The volume as one DICOM file per slice (HU + 1024 stored, rescaled back), in shuffled order."""
    from medmllm.data import io as mio

    volume, (dz, dy, dx) = mio.read_volume(nifti)
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = volume.shape[1:]
    paths = []
    for z in np.random.default_rng(0).permutation(len(volume)):
        stored = np.clip(volume[z][::-1, ::-1] + 1024, 0, 4095).astype(np.uint16)  # anterior up, as NIfTI is shown
        paths.append(dicom(folder / f"slice-{z:03d}.dcm", rows, cols, pixels=stored.tobytes(), bits=16,
                           SeriesInstanceUID="1.2.826.0.1.3680043.8.498.1", ImagePositionPatient=[0, 0, float(z * dz)],
                           ImageOrientationPatient=[1, 0, 0, 0, 1, 0], PixelSpacing=[dy, dx], SliceThickness=dz,
                           RescaleIntercept=-1024, RescaleSlope=1, WindowCenter=center, WindowWidth=width))
    return paths


def zipped(files: list[Path]) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, Path(f).name)
    return "data:application/zip;base64," + base64.b64encode(buf.getvalue()).decode()


def png_bomb(folder: Path, name: str = "study-7731.png") -> Path:
    """A PNG whose header claims 30000 × 30000 pixels (the reader must refuse it from the header)."""
    import zlib

    return png(folder / name, 30000, 30000, zlib.compress(bytes(30001 * 8)))
