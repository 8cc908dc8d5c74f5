"""DICOM writer for the synthetic radiographs, with made-up identifying tags.

Every identifier is fictitious and deterministic (drawn from a seeded generator), so
de-identification code can be tested against known values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from ..files import atomic_path

FIRST_NAMES = ("Alex", "Maria", "John", "Fatima", "Wei", "Olga", "Pedro", "Aisha", "Lars", "Yuki", "Sam", "Nina")
LAST_NAMES = ("Smith", "Garcia", "Mueller", "Rossi", "Nguyen", "Kowalski", "Okafor", "Tanaka", "Jensen", "Silva",
              "Novak", "Dubois")
INSTITUTIONS = ("St. Synthetic General Hospital", "MedSynth University Clinic", "Phantom Valley Medical Center")
PRIVATE_GROUP = 0x0011
PRIVATE_CREATOR = "MEDSYNTH PHANTOM"


def _date(rng: np.random.Generator, first_year: int, last_year: int) -> str:
    """Random YYYYMMDD date (days 1-28 to keep every month valid)."""
    year, month, day = rng.integers(first_year, last_year + 1), rng.integers(1, 13), rng.integers(1, 29)
    return f"{int(year):04d}{int(month):02d}{int(day):02d}"


def _person(rng: np.random.Generator) -> str:
    """Random DICOM person name ``Last^First``."""
    return f"{LAST_NAMES[rng.integers(len(LAST_NAMES))]}^{FIRST_NAMES[rng.integers(len(FIRST_NAMES))]}"


def sample_identity(rng: np.random.Generator) -> dict[str, str]:
    """Sample fictitious patient/study identifiers."""
    study_date = _date(rng, 2015, 2023)
    return {
        "PatientName": _person(rng),
        "PatientID": f"MRN{int(rng.integers(0, 10_000_000)):07d}",
        "PatientBirthDate": _date(rng, 1935, 2000),
        "PatientSex": ("M", "F")[int(rng.integers(2))],
        "StudyDate": study_date,
        "SeriesDate": study_date,
        "StudyTime": f"{int(rng.integers(7, 19)):02d}{int(rng.integers(60)):02d}{int(rng.integers(60)):02d}",
        "AccessionNumber": f"ACC{int(rng.integers(0, 100_000_000)):08d}",
        "InstitutionName": INSTITUTIONS[int(rng.integers(len(INSTITUTIONS)))],
        "ReferringPhysicianName": _person(rng),
    }


def _file_meta(sop_uid: str) -> FileMetaDataset:
    """Part-10 file meta information for an Explicit VR Little Endian DX image."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _set_image(ds: Dataset, pixels12: np.ndarray, spacing_mm: float) -> None:
    """Set the image pixel module (12 bits stored in uint16, MONOCHROME2)."""
    ds.Rows, ds.Columns = (int(x) for x in pixels12.shape)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.ImagerPixelSpacing = [spacing_mm, spacing_mm]
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = np.ascontiguousarray(pixels12, dtype="<u2").tobytes()


def build_xray_dataset(pixels12: np.ndarray, case_id: str, seed: int, identity: dict[str, Any],
                       spacing_mm: float) -> Dataset:
    """Assemble the DX dataset (file meta included) for one case."""
    uid = {k: generate_uid(entropy_srcs=["medsynth", str(seed), case_id, k]) for k in ("study", "series", "sop")}
    ds = Dataset()
    ds.file_meta = _file_meta(uid["sop"])
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = uid["sop"]
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid["study"], uid["series"]
    for key, value in identity.items():
        setattr(ds, key, value)
    ds.SeriesTime = ds.StudyTime
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = case_id.split("-")[-1], 1, 1
    ds.Modality, ds.ViewPosition, ds.BodyPartExamined = "DX", "PA", "CHEST"
    ds.PatientOrientation = ["L", "F"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Manufacturer = "MedSynth"
    ds.StudyDescription = "XR CHEST PA"
    _set_image(ds, pixels12, spacing_mm)
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", "synthetic phantom")
    block.add_new(0x02, "LO", f"operator note: {identity['PatientName']} {identity['PatientID']}")
    block.add_new(0x03, "SH", case_id)
    return ds


def write_xray_dicom(path: Path, pixels12: np.ndarray, case_id: str, seed: int, rng: np.random.Generator,
                     spacing_mm: float) -> Path:
    """Write the radiograph as a Part-10 DICOM file (atomically)."""
    ds = build_xray_dataset(pixels12, case_id, seed, sample_identity(rng), spacing_mm)
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(path)
