"""De-identification of a MedSynth DICOM folder: Basic Profile attributes, UIDs, dates, neutral names,
the private mapping, the audit, burned-in files, errors. (Every row of Table E.1-1: test_deid_table.py.)"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medmllm.deid import deid_folder
from medmllm.errors import MedMLLMError

#: Basic Application Level Confidentiality Profile attributes this test checks (PS3.15 Table E.1-1).
#: Each one present in the input must be gone, empty, or changed in the output.
BASIC_PROFILE_ATTRIBUTES = [
    "PatientName", "PatientID", "PatientBirthDate", "PatientAddress", "OtherPatientIDs", "OtherPatientNames",
    "PatientTelephoneNumbers", "AccessionNumber", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "OperatorsName", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "StudyID", "StationName", "DeviceSerialNumber", "StudyDescription",
    "SeriesDescription", "ImageComments", "AdditionalPatientHistory", "PatientComments", "RequestingPhysician",
    "IssuerOfPatientID", "PatientAge", "PatientWeight",
]
#: Dates: changed when shifting, removed/emptied otherwise.
DATE_ATTRIBUTES = ["StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"]
#: Values planted in the input; the audit log must contain none of them.
PLANTED = {
    "PatientAddress": "12 Harbour Road, Springfield", "OtherPatientIDs": "OLD-99887766",
    "OtherPatientNames": "Roe^Janet", "PatientTelephoneNumbers": "555-201-7788",
    "InstitutionAddress": "1 Hospital Way, Phantom Valley", "InstitutionalDepartmentName": "Radiology West",
    "OperatorsName": "Tech^Terry", "PerformingPhysicianName": "Doc^Dana", "NameOfPhysiciansReadingStudy": "Reader^Rita",
    "StationName": "XR-ROOM-7", "DeviceSerialNumber": "SN-4455667", "SeriesDescription": "PA chest for Okafor",
    "ImageComments": "pt Okafor moved", "AdditionalPatientHistory": "cough since fall", "PatientComments": "VIP",
    "RequestingPhysician": "Ask^Alan", "IssuerOfPatientID": "SYNTH-HOSP", "PatientAge": "061Y",
    "PatientWeight": "71.5",
}
SALT = "test-salt-1"
FIRST = "xray/xray-00000.dcm"  # study 0; followup/ holds a second series of it
BURNED = "xray/xray-00001.dcm"  # BurnedInAnnotation = YES


def _hash_tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _dcm_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.dcm"))


def _mapping(out: Path) -> dict[str, str]:
    """Input path (relative) -> output path (absolute) of every written file, from the private mapping."""
    rows = csv.DictReader((out.parent / f"{out.name}.mapping-PRIVATE.csv").open())
    return {r["input"]: out / r["output"] for r in rows if r["status"] == "written"}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """MedSynth x-rays plus: PHI attributes, a 2nd series of study 0, a burned-in file, a report, a PDF."""
    from medmllm.synth import synthesize

    root = tmp_path_factory.mktemp("deid_in")
    synthesize(root, ["xray"], n=4, seed=0)
    files = _dcm_files(root)
    assert len(files) == 4
    first = pydicom.dcmread(files[0])
    for path in files:
        ds = pydicom.dcmread(path)
        for keyword, value in PLANTED.items():
            setattr(ds, keyword, value)
        ds.AcquisitionDate = ds.ContentDate = ds.StudyDate
        ds.AcquisitionTime = "101500"
        ds.FrameOfReferenceUID = pydicom.uid.generate_uid(entropy_srcs=[str(path), "for"])
        ref = Dataset()
        ref.ReferencedSOPClassUID = first.SOPClassUID
        ref.ReferencedSOPInstanceUID = first.SOPInstanceUID
        ds.SourceImageSequence = Sequence([ref])
        if path == files[1]:
            ds.BurnedInAnnotation = "YES"
        ds.save_as(path)
    # a second series (two instances) of the first study, 3 days later, in a subfolder
    sub = root / "followup"
    sub.mkdir()
    base = pydicom.dcmread(files[0])
    series_uid = pydicom.uid.generate_uid(entropy_srcs=["followup-series"])
    for i in range(2):
        ds = pydicom.dcmread(files[0])
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid(
            entropy_srcs=["followup", str(i)])
        later = (dt.date(int(base.StudyDate[:4]), int(base.StudyDate[4:6]), int(base.StudyDate[6:]))
                 + dt.timedelta(days=3)).strftime("%Y%m%d")
        ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = later
        ds.InstanceNumber = i + 1
        ds.save_as(sub / f"img{i}.dcm")
    (root / "report.txt").write_text("Patient: Jane Roe. MRN: 7654321. Seen by Dr. Okafor on 01/02/2023.\n")
    (root / "scan.pdf").write_bytes(b"%PDF-1.4 Okafor^Wei MRN7673708")
    return root


@pytest.fixture(scope="module")
def result(source, tmp_path_factory):
    """Two de-identified copies with the same salt (one shifted by -100 days) and one with another salt."""
    before = _hash_tree(source)
    base = tmp_path_factory.mktemp("deid_out")
    out = {}
    out["a"] = (base / "a", deid_folder(source, base / "a", salt=SALT, date_shift_days=-100))
    out["a2"] = (base / "a2", deid_folder(source, base / "a2", salt=SALT, date_shift_days=-100))
    out["b"] = (base / "b", deid_folder(source, base / "b", salt="other-salt"))
    out["input_unchanged"] = _hash_tree(source) == before
    return out


def _pairs(source: Path, out: Path):
    """(input path, input, output) of every DICOM written (the burned-in one is withheld by default)."""
    written = _mapping(out)
    for src in _dcm_files(source):
        rel = src.relative_to(source).as_posix()
        if rel in written:
            yield rel, pydicom.dcmread(src), pydicom.dcmread(written[rel])


def _uids(ds) -> list[tuple[str, str]]:
    """(keyword, value) of every instance UID in ds and its file meta (class/transfer-syntax UIDs excluded)."""
    found = []

    def visit(dataset, _elem=None):
        for elem in dataset:
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
            elif elem.VR == "UI" and elem.value and not elem.keyword.endswith("ClassUID") \
                    and elem.keyword not in ("TransferSyntaxUID", "ImplementationClassUID"):
                found.append((elem.keyword, str(elem.value)))

    visit(ds.file_meta)
    visit(ds)
    return found


def test_input_unchanged_and_names_neutral(source, result):
    out, stats = result["a"]
    assert result["input_unchanged"]
    assert stats["dicom_written"] == 5 and stats["text_written"] == 1  # the burned-in file is withheld
    written = _mapping(out)
    assert set(written) == {p.relative_to(source).as_posix() for p in _dcm_files(source)} - {BURNED} | {"report.txt"}
    for rel, path in written.items():
        assert path.is_file()
        if rel.endswith(".dcm"):
            ds = pydicom.dcmread(path)
            assert path.relative_to(out).as_posix() == f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
    names = {part for p in source.rglob("*") for part in p.relative_to(source).parts} | {"xray", "followup", "img0"}
    for p in out.rglob("*"):
        assert not set(p.relative_to(out).parts) & names, p
    assert not list(out.rglob("*.tmp*")) and not list(out.rglob(".*")) and not list(out.parent.glob(".*tmp*"))


def test_basic_profile_attributes_do_not_keep_original_values(source, result):
    out, _ = result["a"]
    checked = set()
    for rel, before, after in _pairs(source, out):
        for keyword in BASIC_PROFILE_ATTRIBUTES + DATE_ATTRIBUTES:
            if keyword not in before or before.data_element(keyword).value in (None, ""):
                continue
            checked.add(keyword)
            old = str(before.data_element(keyword).value)
            new = str(after.data_element(keyword).value) if keyword in after else ""
            assert new != old, f"{rel}: {keyword} kept its original value"
            assert old not in str(after), f"{rel}: the original {keyword} value is still somewhere in the file"
        old_uids = {v for _, v in _uids(before)}
        assert old_uids and not old_uids & {v for _, v in _uids(after)}, f"{rel}: an original UID survived"
        assert after.PatientIdentityRemoved == "YES"
        assert after.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert checked >= set(BASIC_PROFILE_ATTRIBUTES) | set(DATE_ATTRIBUTES)  # every listed attribute was tested


def test_private_tags_removed(source, result):
    out, stats = result["a"]
    for rel, before, after in _pairs(source, out):
        assert any(e.tag.is_private for e in before)
        assert not any(e.tag.is_private for e in after.iterall()), rel
    assert stats["tags_removed"] > 0


def test_uids_consistent_within_study_and_distinct_across_studies(source, result):
    out, stats = result["a"]
    mapping: dict[str, str] = {}
    studies: dict[str, str] = {}
    for rel, before, after in _pairs(source, out):
        old, new = _uids(before), _uids(after)
        assert [k for k, _ in old] == [k for k, _ in new]
        for (_, o), (_, n) in zip(old, new):
            assert mapping.setdefault(o, n) == n, f"{rel}: UID {o} mapped two ways"
        assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
        assert pydicom.uid.UID(after.SOPInstanceUID).is_valid
        studies[str(rel)] = after.StudyInstanceUID
    assert len(set(mapping.values())) == len(mapping)  # different inputs, different outputs
    first = FIRST
    assert studies["followup/img0.dcm"] == studies["followup/img1.dcm"] == studies[first]
    assert len(set(studies.values())) == 3  # three studies written (the burned-in one withheld) stay three
    written = _mapping(out)
    s0, s1 = (pydicom.dcmread(written[f"followup/img{i}.dcm"]) for i in range(2))
    assert s0.SeriesInstanceUID == s1.SeriesInstanceUID != pydicom.dcmread(written[first]).SeriesInstanceUID
    assert s0.SOPInstanceUID != s1.SOPInstanceUID
    assert s0.PatientID == s1.PatientID == pydicom.dcmread(written[first]).PatientID  # one dummy per value
    # a reference to another file's instance points at that file's new UID (X/Z/U*: kept, UIDs remapped)
    assert s0.SourceImageSequence[0].ReferencedSOPInstanceUID == pydicom.dcmread(written[first]).SOPInstanceUID
    assert stats["uids_remapped"] >= len(mapping)


def test_same_salt_same_output_other_salt_differs(source, result):
    (a, _), (a2, _), (b, stats_b) = result["a"], result["a2"], result["b"]
    assert sorted(p.relative_to(a) for p in a.rglob("*")) == sorted(p.relative_to(a2) for p in a2.rglob("*"))
    for path in filter(Path.is_file, a.rglob("*")):
        assert path.read_bytes() == (a2 / path.relative_to(a)).read_bytes(), path
    in_b = _mapping(b)
    for rel, path in _mapping(a).items():
        if rel.endswith(".dcm"):
            da, db = pydicom.dcmread(path), pydicom.dcmread(in_b[rel])
            assert da.SOPInstanceUID != db.SOPInstanceUID and da.PatientID != db.PatientID
    assert not stats_b["salt_generated"] and not result["a"][1]["salt_generated"]


def test_pixel_data_byte_identical(source, result):
    for key in ("a", "b"):
        out, _ = result[key]
        for rel, before, after in _pairs(source, out):
            assert after.PixelData == before.PixelData, rel


def test_date_shift_keeps_intervals_and_no_shift_removes_dates(source, result):
    def day(value: str) -> dt.date:
        return dt.datetime.strptime(value, "%Y%m%d").date()

    out, stats = result["a"]
    assert stats["date_shift_days"] == -100
    first = FIRST
    pairs = {str(rel): (b, a) for rel, b, a in _pairs(source, out)}
    for rel, (before, after) in pairs.items():
        for keyword in DATE_ATTRIBUTES:
            assert day(after.data_element(keyword).value) - day(before.data_element(keyword).value) == \
                dt.timedelta(days=-100), (rel, keyword)
        assert after.PatientBirthDate == ""  # birth dates are never kept
        assert after.AcquisitionTime == before.AcquisitionTime  # whole-day shift keeps the time of day
        assert after.LongitudinalTemporalInformationModified == "MODIFIED"
    base_new = day(pairs[str(first)][1].StudyDate)
    assert day(pairs["followup/img0.dcm"][1].SeriesDate) - base_new == dt.timedelta(days=3)
    # without a shift: emptied (Z, X/Z) or a dummy (X/D: valid where the IOD makes it type 1)
    out_b, stats_b = result["b"]
    after = pydicom.dcmread(_mapping(out_b)[first])
    assert stats_b["date_shift_days"] is None and after.LongitudinalTemporalInformationModified == "REMOVED"
    assert after.StudyDate == "" and after.AcquisitionDate == "" and after.SeriesDate == "19000101"
    assert after.ContentDate == "19000101" and after.AcquisitionTime == ""


def test_burned_in_annotation_withheld_unless_allowed(source, result, tmp_path):
    out, stats = result["a"]
    (ident,) = stats["burned_in"]
    assert [s["file"] for s in stats["skipped"] if s["id"] == ident] == [BURNED] and BURNED not in _mapping(out)
    rows = list(csv.DictReader((out / "deid_audit.csv").open()))
    assert [r["action"] for r in rows if r["file"] == ident] == ["withheld"]
    stats2 = deid_folder(source, tmp_path / "o", salt=SALT, allow_burned_in=True)
    written = _mapping(tmp_path / "o")
    assert stats2["dicom_written"] == 6 and len(stats2["burned_in"]) == 1
    after = pydicom.dcmread(written[BURNED])
    assert "PatientIdentityRemoved" not in after and after.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    out_name = written[BURNED].relative_to(tmp_path / "o").as_posix()
    rows = list(csv.DictReader((tmp_path / "o" / "deid_audit.csv").open()))
    assert any(r["file"] == out_name and r["action"] == "warning" for r in rows)


def test_non_dicom_skipped_and_report_scrubbed(source, result):
    out, stats = result["a"]
    skipped = {s["file"] for s in stats["skipped"]}
    assert {"scan.pdf", "xray/xray-00000.png", "medsynth.json"} <= skipped
    assert not list(out.rglob("*.pdf")) and not list(out.rglob("*.png")) and not list(out.rglob("*.json"))
    report = _mapping(out)["report.txt"].read_text()
    assert "Jane Roe" not in report and "7654321" not in report and "Okafor" not in report
    assert "[NAME]" in report and "[DATE]" in report and "[ID]" in report


def test_audit_log_has_actions_and_no_original_values(source, result):
    out, _ = result["a"]
    text = (out / "deid_audit.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == ["file", "tag", "keyword", "action", "detail"]
    actions = {r["action"] for r in rows}
    assert {"removed", "replaced", "shifted", "emptied", "kept", "skipped", "scrubbed", "withheld", "added"} <= actions
    assert any(r["keyword"] == "PatientName" and r["action"] == "emptied" for r in rows)  # Z
    assert any(r["keyword"] == "PatientID" and r["action"] == "replaced" for r in rows)  # Z/D: a keyed dummy
    assert any(r["keyword"] == "(private)" and r["action"] == "removed" for r in rows)
    originals = set(PLANTED.values())
    for rel, before, _ in _pairs(source, out):
        for elem in before.iterall():
            if elem.VR in ("PN", "LO", "SH", "DA", "UI", "AS", "DS") and elem.value and len(str(elem.value)) >= 4 \
                    and elem.keyword not in ("SOPClassUID", "ReferencedSOPClassUID", "Manufacturer") \
                    and not str(elem.value).startswith("1.2.840.10008"):
                originals.add(str(elem.value))
        originals.add(str(before.file_meta.MediaStorageSOPInstanceUID))
    originals -= {"MONOCHROME2", "CHEST", "1.4", "FOR PRESENTATION"}
    originals |= {part for p in source.rglob("*") for part in p.relative_to(source).parts}  # input names too
    assert len(originals) > 30
    text = re.sub(r"input#\d{5}", "input#", text)  # our own ids of the inputs (StudyID 00003 is not in them)
    leaked = sorted(v for v in originals if v in text)
    assert not leaked, f"original values in the audit: {leaked}"


def test_out_dir_inside_or_equal_input_refused(source, tmp_path):
    for bad in (source, source / "deid_out", source / "xray"):
        with pytest.raises(MedMLLMError, match="input folder|output folder"):
            deid_folder(source, bad, salt=SALT)
    assert not (source / "deid_out").exists()
    with pytest.raises(MedMLLMError, match="contains the input"):
        deid_folder(source, source.parent, salt=SALT)


@pytest.fixture
def corrupt_dir(source, tmp_path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    good = _dcm_files(source)[0].read_bytes()
    (root / "good.dcm").write_bytes(good)
    (root / "cut.dcm").write_bytes(good[: len(good) - 5000])
    (root / "junk.dcm").write_bytes(b"not a dicom file at all")
    return root


def test_corrupt_dicom_one_line_error_or_skip(corrupt_dir, tmp_path):
    with pytest.raises(MedMLLMError) as err:
        deid_folder(corrupt_dir, tmp_path / "o1", salt=SALT)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(corrupt_dir / "cut.dcm") + ": ")
    assert "truncated" in message
    assert not (tmp_path / "o1").exists() and not list(tmp_path.glob("o1*")) and not list(tmp_path.glob(".o1*"))
    stats = deid_folder(corrupt_dir, tmp_path / "o2", salt=SALT, on_error="skip")
    assert stats["dicom_written"] == 1 and {e["file"] for e in stats["errors"]} == {"cut.dcm"}
    assert {s["file"] for s in stats["skipped"]} == {"junk.dcm"}  # not DICOM by content, whatever its name
    assert set(_mapping(tmp_path / "o2")) == {"good.dcm"}


def test_random_salt_reported(source, tmp_path):
    stats = deid_folder(source / "followup", tmp_path / "r1")
    stats2 = deid_folder(source / "followup", tmp_path / "r2")
    assert stats["salt_generated"] and stats2["salt_generated"]
    a, b = (pydicom.dcmread(_mapping(tmp_path / d)["img0.dcm"]) for d in ("r1", "r2"))
    assert a.StudyInstanceUID != b.StudyInstanceUID


def test_bundled_pydicom_files(tmp_path):
    """Real-world-shaped files (CT, MR, ECG waveform) go through and keep their pixel/waveform data."""
    from pydicom.data import get_testdata_file

    src = tmp_path / "in"
    src.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "waveform_ecg.dcm"):
        (src / name).write_bytes(Path(get_testdata_file(name)).read_bytes())
    stats = deid_folder(src, tmp_path / "out", salt=SALT, date_shift_days="auto")
    assert stats["dicom_written"] == 3 and not stats["errors"] and -730 <= stats["date_shift_days"] <= -62
    written = _mapping(tmp_path / "out")
    for name in ("CT_small.dcm", "MR_small.dcm"):
        before, after = pydicom.dcmread(src / name), pydicom.dcmread(written[name])
        assert after.PixelData == before.PixelData
        assert str(after.PatientName) != str(before.PatientName) and after.PatientID != before.PatientID
        assert not any(e.tag.is_private for e in after.iterall())
    ecg_b, ecg_a = pydicom.dcmread(src / "waveform_ecg.dcm"), pydicom.dcmread(written["waveform_ecg.dcm"])
    assert ecg_a.WaveformSequence[0].WaveformData == ecg_b.WaveformSequence[0].WaveformData


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MEDMLLM_DEBUG"}
    return subprocess.run([sys.executable, "-m", "medmllm.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_success_and_bad_input(source, corrupt_dir, tmp_path):
    ok = _cli("deid", str(source), str(tmp_path / "out"), "--salt", SALT, "--date-shift-days", "-30")
    assert ok.returncode == 0, ok.stderr
    summary = ok.stdout.splitlines()[0]
    assert "wrote 6 file(s)" in summary and "UID(s) remapped" in summary and "1 burned-in" in summary
    assert "skipped" in summary and "random salt" not in ok.stdout
    assert "withheld (--allow-burned-in writes them)" in ok.stderr and "xray" not in ok.stdout + ok.stderr
    assert "keep it private" in ok.stdout and "Modified Dates Option" in ok.stdout
    assert (tmp_path / "out" / "deid_audit.csv").is_file() and (tmp_path / "out.mapping-PRIVATE.csv").is_file()

    bad = _cli("deid", str(corrupt_dir), str(tmp_path / "out2"), "--salt", SALT)
    assert bad.returncode != 0
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "cut.dcm" in lines[0], bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout and not (tmp_path / "out2").exists()

    inside = _cli("deid", str(source), str(source / "x"))
    assert inside.returncode != 0 and inside.stderr.strip().startswith("error: ") and "Traceback" not in inside.stderr
    badshift = _cli("deid", str(source), str(tmp_path / "o3"), "--date-shift-days", "soon")
    assert badshift.returncode != 0 and len(badshift.stderr.strip().splitlines()) == 1
