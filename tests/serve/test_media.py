"""Content parts -> inputs without a server: every kind of file the issue lists, read by content;
zips unpacked safely; errors that name the part and never the temporary path or the file name."""
from __future__ import annotations

import base64
import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import pydicom
from pydicom.data import get_testdata_file

from medmllm.serve.media import read_messages
from medmllm.serve.protocol import APIError, Message

from hostile_files import dicom

CT = get_testdata_file("CT_small.dcm")
WAVEFORM = get_testdata_file("waveform_ecg.dcm")


def _b64(blob: bytes, mime="application/octet-stream") -> str:
    return f"data:{mime};base64," + base64.b64encode(blob).decode()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in files.items():
            z.writestr(name, blob)
    return buf.getvalue()


def _file(blob: bytes, name="upload.bin", mime="application/octet-stream") -> dict:
    return {"type": "file", "file": {"file_data": _b64(blob, mime), "filename": name}}


def _read(processor, *parts, role="user", allowed=None, max_unzipped=1 << 26):
    messages = [Message.model_validate({"role": role, "content": [*parts, {"type": "text", "text": "What is it?"}]})]
    return read_messages(messages, processor, allowed, max_unzipped)


def _series_zip() -> bytes:
    src = pydicom.dcmread(CT)
    files = {}
    for i, z in enumerate([0.0, 5.0, 2.5]):
        ds = src.copy()
        ds.ImagePositionPatient = [0.0, 0.0, z]
        ds.SOPInstanceUID = f"1.2.3.{i}"
        buf = io.BytesIO()
        ds.save_as(buf)
        files[f"series/IM{i:04d}"] = buf.getvalue()
    return _zip(files)


def _multiframe(tmp_path: Path) -> bytes:
    pixels = np.arange(8 * 16 * 16, dtype=np.uint16).tobytes()
    return dicom(tmp_path / "mf.dcm", rows=16, cols=16, frames=8, pixels=pixels,
                 PixelSpacing=[1.0, 1.0], SliceThickness=2.0).read_bytes()


def test_each_kind_is_read_as_its_modality(tiny_model, tmp_path):
    _, processor = tiny_model
    cases = {
        "image": [{"type": "image_url", "image_url": {"url": _b64(Path(CT).read_bytes(), "application/dicom")}}],
        "volume": [_file(_series_zip(), "s.zip"), _file(_multiframe(tmp_path))],
        "ecg": [_file(Path(WAVEFORM).read_bytes())],
    }
    for modality, parts in cases.items():
        for part in parts:
            turns, inputs = _read(processor, part)
            assert list(inputs) == [modality] and len(inputs[modality]) == 1, (modality, part["type"])
            assert turns[0]["content"].startswith({"image": "<image>", "volume": "<volume>", "ecg": "<ecg>"}[modality])
            assert inputs[modality][0].shape == processor.load(modality, np.zeros(
                {"image": (8, 8), "volume": (4, 8, 8), "ecg": (12, 100)}[modality], np.float32)).shape


def test_a_wfdb_zip_and_parts_in_order(tiny_model, tmp_path):
    import wfdb

    _, processor = tiny_model
    signal = np.random.default_rng(0).normal(size=(1000, 12)).astype(np.float64)
    wfdb.wrsamp("rec", fs=500, units=["mV"] * 12, sig_name=["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3",
                                                             "V4", "V5", "V6"], p_signal=signal, write_dir=str(tmp_path))
    record = _zip({f"deep/dir/rec.{ext}": (tmp_path / f"rec.{ext}").read_bytes() for ext in ("hea", "dat")})
    turns, inputs = _read(processor, _file(record, "ecg.zip"), {"type": "text", "text": "and"}, _file(Path(WAVEFORM).read_bytes()))
    assert turns[0]["content"] == "<ecg>\nand\n<ecg>\nWhat is it?" and len(inputs["ecg"]) == 2


@pytest.mark.parametrize("name, build, needle", [
    ("bad zip", lambda t: _file(b"PK\x03\x04garbage" * 10, "x.zip"), "not a readable zip"),
    ("zip bigger than allowed", lambda t: _file(_zip({"a.dcm": b"\0" * (1 << 21)}), "x.zip"), "unpacks to 2,097,152 bytes"),
    ("two records", lambda t: _file(_zip({"a.hea": b"a 1 500 10\n", "b.hea": b"b 1 500 10\n"})), "2 WFDB records"),
    ("npy array", lambda t: _file(b"\x93NUMPY" + b"\0" * 200), "npy arrays are not taken"),
    ("text file", lambda t: _file(b"Patient: Jane Roe-Doakes, DOB 1950-01-01"), "unrecognised file content"),
    ("empty", lambda t: {"type": "file", "file": {"file_data": "data:x;base64,", "filename": "a"}}, "the file is empty"),
])
def test_bad_parts_name_the_part_not_the_file(tiny_model, tmp_path, name, build, needle):
    _, processor = tiny_model
    with pytest.raises(APIError) as e:
        _read(processor, build(tmp_path), max_unzipped=1 << 20)
    message = e.value.message
    assert e.value.status == 400 and needle in message and message.startswith("messages[0].content[0]"), message
    assert tempfile.gettempdir() not in message and "Roe" not in message and "\n" not in message


def test_zip_member_names_cannot_escape(tiny_model, tmp_path, monkeypatch):
    _, processor = tiny_model
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    blob = _zip({"../../../escaped.dcm": Path(CT).read_bytes()})
    _, inputs = _read(processor, _file(blob, "x.zip"))
    assert "image" in inputs
    assert not list(tmp_path.parent.rglob("escaped.dcm")) and not list(tmp_path.iterdir())  # nothing left behind


def test_files_only_in_user_turns_and_only_what_the_model_reads(tmp_path):
    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict
    from tiny import tiny_model_dict

    _, image_only = build_model(from_dict(ModelConfig, tiny_model_dict(("image",))), ["yes no"] * 10)
    with pytest.raises(APIError, match=r"is a volume input, and this model reads image"):
        _read(image_only, _file(_series_zip()))
    with pytest.raises(APIError, match="files are taken in user messages only"):
        _read(image_only, _file(Path(CT).read_bytes()), role="assistant")
