"""`deid_folder` as an attacker would try it: what a file is (content, not name), what is never opened,
what is withheld, what a failure leaves behind, and the options that keep or clean."""
from __future__ import annotations

import csv
import os
import threading
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from medmllm.deid import deid_folder
from medmllm.errors import MedMLLMError

SALT = "folder-salt"


def _image(path: Path, name: str = "Okafor^Wei", raw: bool = False, **attrs) -> Path:
    """A 2x2 CT (or what ``attrs`` make it) written as Part 10, or without preamble and meta (``raw``)."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality, ds.BurnedInAnnotation = name, "MRN7673708", "CT", "NO"
    ds.Rows = ds.Columns = 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = b"\x01\x02\x03\x04"
    for keyword, value in attrs.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw:
        ds.save_as(path, implicit_vr=True, little_endian=True)
    else:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
    return path


def _written(out: Path) -> dict[str, pydicom.Dataset]:
    rows = csv.DictReader((out.parent / f"{out.name}.mapping-PRIVATE.csv").open())
    return {r["input"]: pydicom.dcmread(out / r["output"]) for r in rows
            if r["status"] == "written" and r["output"].endswith(".dcm")}


def _no_trace(parent: Path, name: str) -> bool:
    """Neither the folder, its mapping nor a temporary beside it."""
    return not [p for p in parent.iterdir() if name in p.name]


def test_failure_mid_run_leaves_nothing(tmp_path):
    src = tmp_path / "in"
    _image(src / "a_first.dcm")
    good = _image(src / "b_second.dcm").read_bytes()
    (src / "c_cut.dcm").write_bytes(good[:-3])
    with pytest.raises(MedMLLMError, match="c_cut.dcm: "):
        deid_folder(src, tmp_path / "out", salt=SALT)
    assert _no_trace(tmp_path, "out")
    (tmp_path / "empty").mkdir()  # an empty existing OUT_DIR is used, and left as it was on failure
    with pytest.raises(MedMLLMError):
        deid_folder(src, tmp_path / "empty", salt=SALT)
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())


def test_existing_output_refused_unless_force(tmp_path):
    src = tmp_path / "in"
    _image(src / "a.dcm")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(MedMLLMError, match="not empty.*--force"):
        deid_folder(src, out, salt=SALT)
    deid_folder(src, out, salt=SALT, force=True)
    assert not (out / "old.txt").exists() and len(_written(out)) == 1
    (out / "x").write_text("")
    with pytest.raises(MedMLLMError, match="not empty"):
        deid_folder(src, out, salt=SALT)
    for bad in (tmp_path / "out2" / "map.csv", src / "map.csv"):
        with pytest.raises(MedMLLMError, match="outside the input and output"):
            deid_folder(src, tmp_path / "out2", salt=SALT, mapping=bad)
    (tmp_path / "out3.mapping-PRIVATE.csv").write_text("earlier")
    with pytest.raises(MedMLLMError, match="mapping file exists"):
        deid_folder(src, tmp_path / "out3", salt=SALT)
    stats = deid_folder(src, tmp_path / "out4", salt=SALT, mapping=tmp_path / "keys" / "m.csv")
    assert stats["mapping"] == tmp_path / "keys" / "m.csv" and "a.dcm" in stats["mapping"].read_text()


def test_content_decides_what_a_file_is(tmp_path):
    src = tmp_path / "in"
    _image(src / "scan.txt")  # DICOM named .txt
    _image(src / "noext", raw=True)  # no preamble, no file meta, no suffix
    (src / "report.dcm").write_text("Patient: Jane Roe")  # text named .dcm: neither DICOM nor a .txt report
    (src / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 Okafor")  # not text
    (src / "empty.dcm").write_bytes(b"")
    stats = deid_folder(src, tmp_path / "out", salt=SALT)
    assert set(_written(tmp_path / "out")) == {"scan.txt", "noext"} and stats["text_written"] == 0
    assert {s["file"] for s in stats["skipped"]} == {"report.dcm", "binary.txt", "empty.dcm"}
    for ds in _written(tmp_path / "out").values():
        assert ds.preamble == b"\0" * 128 and ds.PatientName == "" and ds.PatientID.startswith("ANON")
        assert ds.file_meta.TransferSyntaxUID in (ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian)


def test_dicomdir_duplicates_fifo_and_links_skipped(tmp_path):
    src = tmp_path / "in"
    first = _image(src / "a.dcm")
    (src / "copy").mkdir()
    (src / "copy" / "a_again.dcm").write_bytes(first.read_bytes())
    record = Dataset()
    record.DirectoryRecordType, record.PatientName, record.PatientID = "PATIENT", "Okafor^Wei", "MRN7673708"
    dicomdir = Dataset()
    dicomdir.FileSetID, dicomdir.DirectoryRecordSequence = "OKAFOR", Sequence([record])
    dicomdir.file_meta = FileMetaDataset()
    dicomdir.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    dicomdir.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dicomdir.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dicomdir.save_as(src / "DICOMDIR", enforce_file_format=True)
    os.mkfifo(src / "pipe.dcm")  # opening it would block this run for ever
    os.symlink(first, src / "link.dcm")
    os.symlink(src / "copy", src / "linked_folder")
    result = {}
    worker = threading.Thread(target=lambda: result.update(deid_folder(src, tmp_path / "out", salt=SALT)), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "a FIFO was opened"
    reasons = {s["file"]: s["reason"].split(":")[0] for s in result["skipped"]}
    assert reasons == {"DICOMDIR": "DICOMDIR", "copy/a_again.dcm": "duplicate SOP Instance UID",
                       "pipe.dcm": "not a regular file (FIFO, device or socket)", "link.dcm": "symbolic link",
                       "linked_folder": "symbolic link"}
    assert list(_written(tmp_path / "out")) == ["a.dcm"] and not result["errors"]
    audit = (tmp_path / "out" / "deid_audit.csv").read_text()
    assert "DICOMDIR" in audit and "OKAFOR" not in audit.upper() and "pipe" not in audit


@pytest.mark.parametrize("attrs, withheld", [
    ({"BurnedInAnnotation": "YES"}, True),
    ({"Modality": "US", "BurnedInAnnotation": None}, True),
    ({"Modality": "US"}, False),  # BurnedInAnnotation NO
    ({"SOPClassUID": SecondaryCaptureImageStorage, "Modality": "CT", "BurnedInAnnotation": None}, True),
    ({"RecognizableVisualFeatures": "YES"}, True),
])
def test_burned_in_text_withheld(tmp_path, attrs, withheld):
    _image(tmp_path / "in" / "a.dcm", **attrs)
    stats = deid_folder(tmp_path / "in", tmp_path / "out", salt=SALT)
    assert (stats["dicom_written"], len(stats["burned_in"])) == ((0, 1) if withheld else (1, 0))
    if withheld:
        stats = deid_folder(tmp_path / "in", tmp_path / "out2", salt=SALT, allow_burned_in=True)
        (ds,) = _written(tmp_path / "out2").values()
        assert stats["dicom_written"] == 1 and "PatientIdentityRemoved" not in ds


def test_retain_safe_private(tmp_path):
    path = _image(tmp_path / "in" / "a.dcm")
    ds = pydicom.dcmread(path)
    ds.private_block(0x0029, "SAFE CREATOR", create=True).add_new(0x01, "DS", "2.5")
    ds.private_block(0x0029, "SAFE CREATOR").add_new(0x02, "LO", "Okafor unsafe")
    ds.private_block(0x0031, "Okafor^Wei", create=True).add_new(0x01, "DS", "2.5")  # same offset, other creator
    ds.save_as(path)
    (tmp_path / "safe.txt").write_text("0029,01,SAFE CREATOR\n0031,02,NOT PRESENT\n")
    deid_folder(tmp_path / "in", tmp_path / "out", salt=SALT, safe_private=tmp_path / "safe.txt")
    (after,) = _written(tmp_path / "out").values()
    assert [(e.tag, e.value) for e in after if e.tag.is_private] == [(0x00290010, "SAFE CREATOR"), (0x00291001, "2.5")]
    assert [i.CodeValue for i in after.DeidentificationMethodCodeSequence] == ["113100", "113111"]
    deid_folder(tmp_path / "in", tmp_path / "out2", salt=SALT)
    (after,) = _written(tmp_path / "out2").values()
    assert not [e for e in after if e.tag.is_private]


def test_clean_descriptors_and_retained_identities(tmp_path):
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "ICU1", "99LOCAL", "ward 3"
    _image(tmp_path / "in" / "a.dcm", SeriesDescription="PA chest for Okafor", StudyDescription="CT 2023-01-02 Dr. Smith",
           ProtocolName="WEI MRN7673708 head", DeviceSerialNumber="SN-4455", StationAETitle="CT_ROOM_7",
           InstitutionName="St Elsewhere", InstitutionCodeSequence=Sequence([item]))
    deid_folder(tmp_path / "in", tmp_path / "plain", salt=SALT)
    (plain,) = _written(tmp_path / "plain").values()
    assert "SeriesDescription" not in plain and "StudyDescription" not in plain and plain.ProtocolName.startswith("ANON")
    assert plain.DeviceSerialNumber.startswith("ANON") and "StationAETitle" not in plain
    deid_folder(tmp_path / "in", tmp_path / "out", salt=SALT, clean_descriptors=True, retain_device_identity=True,
                retain_institution_identity=True)
    (ds,) = _written(tmp_path / "out").values()
    assert ds.SeriesDescription == "PA chest for [NAME]"  # the file's own patient name, scrubbed
    assert ds.StudyDescription == "CT [DATE] Dr. [NAME]"
    assert ds.ProtocolName == "[NAME] [ID] head"  # the patient ID and a name part scrubbed, the rest kept
    assert ds.DeviceSerialNumber == "SN-4455" and ds.StationAETitle.startswith("ANON")  # AE titles: keyed (C)
    assert ds.InstitutionName == "St Elsewhere" and ds.InstitutionCodeSequence[0].CodeMeaning == "ward 3"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100", "113109", "113112", "113105"]
