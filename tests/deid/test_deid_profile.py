"""The shipped Table E.1-1 and how each row becomes one action; the value rules (keyed UIDs, dummies,
date shift, the safe-private list)."""
from __future__ import annotations

import itertools

import pytest
from pydicom.datadict import dictionary_has_tag, tag_for_keyword
from pydicom.uid import UID

from medmllm.deid.profile import (CODES, COMBINED, GRAPHIC_GROUPS, SUPPLEMENT_FILE, Options, Profile, load_table,
                                  parse_tag)
from medmllm.deid.rules import Keyed, dummy_value, load_safe_private, shift_value
from medmllm.errors import MedMLLMError


def _act(profile: Profile, keyword: str, vr: str = "LO") -> str:
    return profile.action(tag_for_keyword(keyword), vr)[0]


def test_table_is_complete_and_known():
    rows = load_table()
    assert len(rows) == 621
    plain = [parse_tag(r["tag"]) for r in rows if parse_tag(r["tag"]) is not None]
    assert len(plain) == len(set(plain)) == 617 and all(dictionary_has_tag(t) for t in plain)
    assert {r["basicProfile"] for r in rows} <= CODES | set(COMBINED)
    assert GRAPHIC_GROUPS == {0x5000, 0x6000}
    extra = [parse_tag(r["tag"]) for r in load_table(SUPPLEMENT_FILE)]
    assert extra and not set(extra) & set(plain) and all(dictionary_has_tag(t) for t in extra)
    assert all(r["why"] for r in load_table(SUPPLEMENT_FILE))


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=6)))
def test_every_row_gets_one_action_under_every_option_set(flags):
    profile = Profile(Options(*flags))
    assert set(a for a, _, _ in profile.actions.values()) <= {"X", "Z", "D", "U", "K", "C", "U*"}
    assert all(fallback in {"X", "Z", "D", "U", "U*"} for _, fallback, _ in profile.actions.values())


def test_combined_codes_and_not_in_standard_iods():
    p = Profile()
    assert _act(p, "AccessionNumber", "SH") == "Z"  # Z
    assert _act(p, "PatientID") == "D"  # Z/D -> D (type 1 somewhere)
    assert _act(p, "SeriesDate", "DA") == "D"  # X/D
    assert _act(p, "AcquisitionDate", "DA") == "Z"  # X/Z
    assert _act(p, "InstitutionName") == "D"  # X/Z/D
    assert _act(p, "SourceImageSequence", "SQ") == "U*"  # X/Z/U*
    assert _act(p, "StudyInstanceUID", "UI") == "U"
    assert _act(p, "ReasonForVisit") == "X" and _act(p, "CommentsOnRadiationDose") == "X"
    assert _act(p, "PatientBirthDateInAlternativeCalendar") == "X"  # from the supplement
    assert _act(p, "RelatedFrameOfReferenceUID", "UI") == "X"  # U, but not in standard composite IODs
    assert _act(p, "AffectedSOPInstanceUID", "UI") == "X"  # a command element
    assert p.action(tag_for_keyword("ExpiryDate"), "DA")[0] == "D"  # a date the table does not list: by VR
    assert p.action(tag_for_keyword("EvaluatorName"), "PN")[0] == "D"
    assert p.action(tag_for_keyword("Modality"), "CS") is None  # not in the table: kept
    assert Options().codes() == [("113100", "Basic Application Confidentiality Profile")]


def test_options_override_and_the_more_protective_wins():
    assert _act(Profile(), "PatientAge", "AS") == "X"
    chars = Profile(Options(retain_patient_characteristics=True))
    assert _act(chars, "PatientAge", "AS") == "K" and _act(chars, "PatientSex", "CS") == "K"
    assert _act(chars, "Allergies") == "C" and chars.action(tag_for_keyword("Allergies"), "LO")[1] == "X"
    device = Profile(Options(retain_device_identity=True))
    assert _act(device, "DeviceSerialNumber") == "K" and _act(device, "DateOfLastCalibration", "DA") == "K"
    both = Profile(Options(retain_device_identity=True, retain_modified_dates=True))
    assert _act(both, "DateOfLastCalibration", "DA") == "C"  # K (device) and C (dates): C
    assert _act(Profile(Options(retain_institution_identity=True)), "InstitutionName") == "K"
    assert _act(Profile(Options(clean_descriptors=True)), "SeriesDescription") == "C"
    everything = Options(*[True] * 6)
    assert [c for c, _ in everything.codes()] == ["113100", "113107", "113108", "113111", "113109", "113112", "113105"]


def test_keyed_uids_and_dummies():
    a, b = Keyed("salt-a"), Keyed("salt-b")
    uid = a.uid("1.2.3.4")
    assert uid == Keyed("salt-a").uid("1.2.3.4") != b.uid("1.2.3.4") and uid != a.uid("1.2.3.5")
    assert uid.startswith("2.25.") and UID(uid).is_valid and len(uid) <= 64
    assert dummy_value("Doe^Jane", "PN", a) == dummy_value("Doe^Jane", "PN", a) != dummy_value("Doe^Jane", "PN", b)
    assert "Doe" not in dummy_value("Doe^Jane", "PN", a)
    assert len(dummy_value("X" * 60, "SH", a)) <= 16 and dummy_value("x", "CS", a).isupper()
    assert dummy_value("20200102", "DA", a) == "19000101" and dummy_value(b"abc", "OB", a) == b"\0\0"
    assert dummy_value(["1.2.3", "1.2.4"], "UI", a) == [a.uid("1.2.3"), a.uid("1.2.4")]


def test_date_shift():
    assert shift_value("20200301", "DA", -1) == "20200229"
    assert shift_value(["20200301", "20200302"], "DA", 10) == ["20200311", "20200312"]
    assert shift_value("20200301101112.5+0100", "DT", -1) == "20200229101112.5+0100"
    with pytest.raises(ValueError):
        shift_value("2020", "DA", 1)


def test_safe_private_list(tmp_path):
    good = tmp_path / "safe.txt"
    good.write_text("# group, offset, creator\n0029,10,SIEMENS CSA HEADER\n0019,0C, SIEMENS MR HEADER \n")
    assert load_safe_private(good) == {(0x0029, "SIEMENS CSA HEADER", 0x10), (0x0019, "SIEMENS MR HEADER", 0x0C)}
    for bad in ("0010,10,PUBLIC GROUP", "0029,zz,X", "0029,10", "0029,100,X"):
        (tmp_path / "bad.txt").write_text(bad + "\n")
        with pytest.raises(MedMLLMError, match="bad.txt:1"):
            load_safe_private(tmp_path / "bad.txt")
