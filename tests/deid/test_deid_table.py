"""Acceptance test: every attribute of PS3.15 Table E.1-1, as shipped, through `medmllm deid`.

A DICOM holds every attribute of the table (and of ``supplement.json``) with a unique value of a valid VR (pydicom's data
dictionary), at the top level and again two sequences deep, plus curves and two overlay groups, a
private block (its creator string a name), an unknown public tag, identifying file meta and a
preamble holding a name and an MRN; its folder and file names hold the patient's name. Run through
the CLI, no unique value may be anywhere under OUT_DIR (bytes and names) except where the chosen
option keeps it.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from tiny import run_cli

from medmllm.deid import profile
from medmllm.deid.rules import shift_value

SALT = "table-salt"
NAME, MRN = "Okafor^Wei", "MRN7673708"
FOLDER = "Okafor_Wei_MRN7673708"
CONTAINERS = ("AnatomicRegionSequence", "PrimaryAnatomicStructureSequence")  # not in the table
ROWS = {profile.parse_tag(r["tag"]): r for r in profile.load_table() + profile.load_table(profile.SUPPLEMENT_FILE)
        if profile.parse_tag(r["tag"]) is not None}  # the table's plain-tag rows, and our supplement's
ROOT = "1.2.826.0.1.3680043.9.7777"
# pydicom reads the table's command-group rows (0000,xxxx) as implicit VR first, and says so
pytestmark = pytest.mark.filterwarnings("ignore:Expected implicit VR:UserWarning")


class Planted:
    """Unique values: ``value(vr)`` makes one; ``tokens`` maps each searchable token to (tag or label, level)."""

    def __init__(self):
        self.n = 0
        self.tokens: dict[bytes, tuple[object, str]] = {}

    def value(self, vr: str, owner, level: str):
        self.n += 1
        n = self.n
        day = dt.date(1931, 1, 1) + dt.timedelta(days=7 * n)
        made = {
            "DA": day.strftime("%Y%m%d"), "DT": day.strftime("%Y%m%d") + "101112",
            "TM": f"0915{n % 60:02d}.{n:06d}", "DS": f"7{n:04d}.5", "IS": f"8{n:05d}", "AS": f"{n % 1000:03d}W",
            "UI": f"{ROOT}.{n + 10000}", "UR": f"http://q{n:04d}x.example", "PN": f"PNQ{n:04d}X^Given",
            "OB": f"OBQ{n:04d}X".encode(), "UN": f"UNQ{n:04d}X".encode(), "US": 1000 + n,
        }.get(vr, f"{vr}Q{n:04d}X")
        token = made.encode() if isinstance(made, str) else made if isinstance(made, bytes) else None
        if token is not None:
            self.tokens[token] = (owner, level)
        return made


def _item(planted: Planted, owner, level: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = planted.value("UI", owner, level)
    item.PatientID = planted.value("LO", owner, level)
    return item


def _fill(ds: Dataset, planted: Planted, level: str) -> None:
    """Every plain-tag row of the table (group 0002 goes to the file meta), then curves, overlays,
    a private block and an unknown public tag."""
    for tag in sorted(ROWS):
        if tag >> 16 == 0x0002:
            continue
        vr = dictionary_VR(tag).split(" or ")[0]
        value = Sequence([_item(planted, tag, level)]) if vr == "SQ" else planted.value(vr, tag, level)
        ds.add_new(tag, vr, value)
    for group in (0x5000, 0x6000, 0x6002):
        ds.add_new((group, 0x3000), "OB" if group == 0x5000 else "OW", planted.value("OB", "graphics", level))
    for group in (0x6000, 0x6002):
        ds.add_new((group, 0x0010), "US", 4)
        ds.add_new((group, 0x0011), "US", 4)
        ds.add_new((group, 0x0022), "LO", planted.value("LO", "overlay description", level))
        ds.add_new((group, 0x1500), "LO", planted.value("LO", "overlay label", level))
        ds.add_new((group, 0x4000), "LT", planted.value("LT", "overlay comments", level))
    ds.add_new((0x5000, 0x2500), "LO", planted.value("LO", "curve label", level))
    block = ds.private_block(0x0011, f"CREATOR {NAME}", create=True)
    block.add_new(0x01, "LO", planted.value("LO", "private", level))
    block.add_new(0x02, "SQ", Sequence([_item(planted, "private sequence", level)]))
    ds.add_new((0x4444, 0x0010), "LO", planted.value("LO", "unknown public", level))


def build(path: Path, planted: Planted, study: str, series: str, sop: str, pixels: bytes, nested: bool = True) -> None:
    ds = Dataset()
    _fill(ds, planted, "top")
    if nested:
        inner = Dataset()
        _fill(inner, planted, "nested")
        middle = Dataset()
        setattr(middle, CONTAINERS[1], Sequence([inner]))
        setattr(ds, CONTAINERS[0], Sequence([middle]))
    ds.SOPClassUID, ds.Modality, ds.BurnedInAnnotation = CTImageStorage, "CT", "NO"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = planted.value("UI", "meta", "meta")
    meta.ImplementationVersionName = planted.value("SH", "meta", "meta")
    for keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle"):
        setattr(meta, keyword, planted.value("AE", "meta", "meta"))
    for keyword in ("SourcePresentationAddress", "SendingPresentationAddress", "ReceivingPresentationAddress"):
        setattr(meta, keyword, planted.value("UR", "meta", "meta"))
    meta.PrivateInformationCreatorUID = planted.value("UI", "meta", "meta")
    meta.PrivateInformation = planted.value("OB", "meta", "meta")
    # written by hand: dcmwrite refuses the command group (0000,xxxx) rows of the table in a data set
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    fp.write(f"{NAME} {MRN}".encode().ljust(128, b"\0") + b"DICM")
    write_file_meta_info(fp, meta)
    write_dataset(fp, ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fp.getvalue())


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Three files: two of study A (one named scan.txt), one of study B; all under the patient's name."""
    root = tmp_path_factory.mktemp("table_in")
    planted = Planted()
    study_a, study_b = f"{ROOT}.1", f"{ROOT}.2"
    build(root / FOLDER / "Okafor_Wei_1.dcm", planted, study_a, f"{ROOT}.11", f"{ROOT}.111", bytes(range(16)))
    build(root / FOLDER / "scan.txt", planted, study_a, f"{ROOT}.12", f"{ROOT}.121", bytes(range(16, 32)), nested=False)
    build(root / FOLDER / "Okafor_Wei_2.dcm", planted, study_b, f"{ROOT}.21", f"{ROOT}.211", bytes(range(32, 48)),
          nested=False)
    (root / FOLDER / "report Okafor.txt").write_text(f"Patient: Wei Okafor, {MRN}. Seen 01/02/2023.\n")
    first = pydicom.dcmread(root / FOLDER / "Okafor_Wei_1.dcm")  # the input really holds every row, twice
    inner = first[CONTAINERS[0]][0][CONTAINERS[1]][0]
    for tag in ROWS:
        assert tag in (first.file_meta if tag >> 16 == 2 else first) and (tag >> 16 == 2 or tag in inner), hex(tag)
    assert len(first.file_meta) == 15 and first.preamble.startswith(NAME.encode())
    return root, planted


@pytest.fixture(scope="module")
def runs(source, tmp_path_factory):
    root, _ = source
    base = tmp_path_factory.mktemp("table_out")
    variants = {"default": [], "again": [], "chars": ["--keep-patient-characteristics"],
                "dates": ["--date-shift-days", "-100"]}
    for name, flags in variants.items():
        code, out, err = run_cli(None, "deid", root, base / name, "--salt", SALT, *flags)
        assert code == 0, out + err
    return base


def _everything(out: Path) -> bytes:
    """Every byte under out, and every path name, and the mapping beside it (but its input names)."""
    blob = [p.relative_to(out).as_posix().encode() for p in out.rglob("*")]
    blob += [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    return b"\n".join(blob)


def _leaks(out: Path, planted: Planted, allowed=lambda owner, level: False) -> list[str]:
    blob = _everything(out)
    return sorted({f"{keyword_for_tag(o) if isinstance(o, int) else o} ({level})"
                   for token, (o, level) in planted.tokens.items() if token in blob and not allowed(o, level)})


def _outputs(out: Path) -> dict[str, pydicom.Dataset]:
    return {p.relative_to(out).as_posix(): pydicom.dcmread(p) for p in sorted(out.rglob("*.dcm"))}


def test_default_keeps_no_value_of_the_table(source, runs):
    root, planted = source
    out = runs / "default"
    assert _leaks(out, planted) == []
    blob = _everything(out)
    for secret in (b"Okafor", b"7673708", NAME.encode()):
        assert secret not in blob, secret
    assert len(_outputs(out)) == 3 and len(list(out.glob("reports/*.txt"))) == 1  # scan.txt went as DICOM
    mapping = (runs / "default.mapping-PRIVATE.csv").read_text()
    assert f"{FOLDER}/scan.txt" in mapping  # the user's private key to the names
    assert [t for t in planted.tokens if t in mapping.encode()] == []


def test_structure_meta_and_preamble(runs):
    for path, ds in _outputs(runs / "default").items():
        assert Path(runs / "default" / path).read_bytes()[:128] == b"\0" * 128
        assert set(ds.file_meta.keys()) == {0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013}
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert path == f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
        for elem in ds.iterall():
            group = elem.tag.group
            assert not elem.tag.is_private and group & 0xFF00 not in (0x5000, 0x6000) and group != 0x4444, elem.tag
        assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "REMOVED"
        assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100"]
        assert ds.DeidentificationMethodCodeSequence[0].CodingSchemeDesignator == "DCM"


def test_uids_consistent_per_study_and_salt(source, runs):
    default, again = _outputs(runs / "default"), _outputs(runs / "again")
    assert default.keys() == again.keys()
    for path in default:
        assert (runs / "default" / path).read_bytes() == (runs / "again" / path).read_bytes()
    by_pixels = {bytes(ds.PixelData)[:1]: ds for ds in default.values()}
    a1, a2, b = by_pixels[b"\x00"], by_pixels[b"\x10"], by_pixels[b"\x20"]
    assert a1.StudyInstanceUID == a2.StudyInstanceUID != b.StudyInstanceUID
    assert a1.SeriesInstanceUID != a2.SeriesInstanceUID
    assert len({ds.SOPInstanceUID for ds in default.values()}) == 3
    assert all(pydicom.uid.UID(ds.StudyInstanceUID).is_valid for ds in default.values())


def test_pixel_data_byte_identical(runs):
    got = sorted(bytes(ds.PixelData) for ds in _outputs(runs / "default").values())
    assert got == [bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 48))]


def _option_rows(column: str, code: str) -> set[int]:
    return {tag for tag, row in ROWS.items() if row.get(column) == code}


def test_patient_characteristics_survive(source, runs):
    _, planted = source
    keep = _option_rows("rtnPatCharsOpt", "K")
    clean = _option_rows("rtnPatCharsOpt", "C")
    assert _leaks(runs / "chars", planted, lambda owner, level: owner in keep | clean) == []
    for ds in _outputs(runs / "chars").values():
        nested = ds.get(CONTAINERS[0])
        inner = nested[0][CONTAINERS[1]][0] if nested else None
        for tag in keep:
            for where in filter(None, (ds, inner)):
                assert tag in where and where[tag].value, keyword_for_tag(tag)
    assert {i.CodeValue for ds in _outputs(runs / "chars").values()
            for i in ds.DeidentificationMethodCodeSequence} == {"113100", "113108"}


def test_modified_dates_shifted_with_intervals(source, runs):
    root, planted = source
    dates = _option_rows("rtnLongModifDatesOpt", "C")
    times = {tag for tag in dates if dictionary_VR(tag) == "TM"}
    assert _leaks(runs / "dates", planted, lambda owner, level: owner in times) == []
    before = pydicom.dcmread(root / FOLDER / "Okafor_Wei_2.dcm")
    (after,) = [ds for ds in _outputs(runs / "dates").values() if bytes(ds.PixelData)[:1] == b"\x20"]
    checked = 0
    for tag in dates:
        vr = dictionary_VR(tag)
        if vr in ("DA", "DT"):
            assert after[tag].value == shift_value(before[tag].value, vr, -100), keyword_for_tag(tag)
            checked += 1
        elif vr == "TM":
            assert after[tag].value == before[tag].value
    assert checked > 100
    day = lambda ds, kw: dt.datetime.strptime(ds.data_element(kw).value, "%Y%m%d")  # noqa: E731
    assert day(after, "SeriesDate") - day(after, "StudyDate") == day(before, "SeriesDate") - day(before, "StudyDate")
    assert after.LongitudinalTemporalInformationModified == "MODIFIED"
    assert after.PatientBirthDate == ""  # not a longitudinal date: emptied under the option too
