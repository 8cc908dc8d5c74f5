"""Files for the page and preview tests, made from MedSynth's: a CT series (DICOM slices of a NIfTI
volume, with its own window), a zipped WFDB record, base64 data URLs, and a PNG that claims 30000²."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import data_url, zip_url as zipped  # noqa: F401 - the tests take them from here
from hostile_files import dicom, png


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


def png_bomb(folder: Path, name: str = "study-7731.png") -> Path:
    """A PNG whose header claims 30000 × 30000 pixels (the reader must refuse it from the header)."""
    import zlib

    return png(folder / name, 30000, 30000, zlib.compress(bytes(30001 * 8)))
