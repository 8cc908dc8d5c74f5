"""Readers: values identical to the libraries' own on their bundled files; windows, series,
resampling, lead order; and a one-line error naming the file for every kind of bad file."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from medmllm.data import io
from medmllm.errors import MedMLLMError

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.pixels import apply_modality_lut  # noqa: E402

NIBABEL_DATA = Path(__import__("nibabel").__file__).parent / "tests" / "data"


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_dicom_values_equal_pydicom_modality_lut(name):
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    loaded = io.load(path)
    assert loaded.kind == "image" and loaded.modality == ds.Modality
    np.testing.assert_array_equal(loaded.array, apply_modality_lut(ds.pixel_array, ds).astype(np.float32))
    assert loaded.spacing == tuple(float(v) for v in ds.PixelSpacing)
    assert loaded.summary()["dtype"] == str(ds.pixel_array.dtype)


def test_ct_is_in_hounsfield_units():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = io.load(get_testdata_file("CT_small.dcm")).array
    raw = ds.pixel_array.astype(np.float64)
    np.testing.assert_allclose(hu, raw * float(ds.RescaleSlope) + float(ds.RescaleIntercept))


def test_dicom_waveform_ecg_equals_pydicom():
    path = get_testdata_file("waveform_ecg.dcm")
    ds = pydicom.dcmread(path)
    signal, rate, leads = io.read_ecg(path)
    expected = ds.waveform_array(0).T / 1000.0  # the file's unit is uV; ours is mV
    np.testing.assert_allclose(signal, expected.astype(np.float32), rtol=0, atol=0)
    assert rate == 1000.0 and leads == io.STANDARD_LEADS
    resampled, rate2, _ = io.read_ecg(path, rate=500)
    assert rate2 == 500.0 and resampled.shape == (12, 5000)
    assert abs(float(resampled[1].mean()) - float(signal[1].mean())) < 0.01


def test_nifti_equals_nibabel_canonical():
    import nibabel as nib

    path = NIBABEL_DATA / "anatomical.nii"
    img = nib.as_closest_canonical(nib.load(path))
    volume, spacing = io.read_volume(path)
    np.testing.assert_array_equal(volume, np.asarray(img.dataobj, dtype=np.float32).transpose(2, 1, 0))
    assert spacing == tuple(float(z) for z in img.header.get_zooms()[:3])[::-1]
    assert io.load(path).summary()["orientation"] == "".join(nib.aff2axcodes(nib.load(path).affine))
    coarse, new = io.read_volume(path, spacing=(4.0, 4.0, 4.0))
    assert new == (4.0, 4.0, 4.0)
    assert coarse.shape == tuple(round(n * s / 4.0) for n, s in zip(volume.shape, spacing))


def test_npy_volume_m3d_convention(tmp_path):
    arr = np.random.default_rng(0).normal(size=(1, 8, 16, 16)).astype(np.float32)
    np.save(tmp_path / "v.npy", arr)
    volume, spacing = io.read_volume(tmp_path / "v.npy")
    np.testing.assert_array_equal(volume, arr[0])
    assert spacing == (1.0, 1.0, 1.0)


def test_windows_presets_and_tags():
    path = get_testdata_file("CT_small.dcm")
    hu = io.load(path).array
    lung = io.read_image(path, window="lung")
    c, w = io.WINDOW_PRESETS["lung"]
    expected = np.clip((hu - (c - 0.5)) / (w - 1) + 0.5, 0, 1)
    np.testing.assert_allclose(lung, expected, atol=1e-6)
    bone = io.read_image(path, window=(400, 1800))
    assert not np.allclose(lung, bone)
    with pytest.raises(MedMLLMError, match="unknown window 'lungs'"):
        io.read_image(path, window="lungs")


def test_window_from_tags_and_monochrome1(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.save_as(tmp_path / "w.dcm")
    loaded = io.load(tmp_path / "w.dcm")
    assert loaded.window == {"center": 40.0, "width": 400.0, "source": "tags", "function": "LINEAR"}
    np.testing.assert_allclose(io.read_image(tmp_path / "w.dcm"), io.read_image(tmp_path / "w.dcm", "abdomen"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(tmp_path / "m1.dcm")
    np.testing.assert_allclose(io.read_image(tmp_path / "m1.dcm"), 1.0 - io.read_image(tmp_path / "w.dcm"), atol=1e-6)


def test_compressed_syntaxes_decode_or_fail_clearly():
    plain = io.load(get_testdata_file("MR_small.dcm")).array
    np.testing.assert_array_equal(io.load(get_testdata_file("MR_small_RLE.dcm")).array, plain)
    assert io.load(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")).array.shape == (100, 100, 3)
    j2k = io.load(get_testdata_file("693_J2KI.dcm"))
    assert j2k.array.shape == (512, 512) and "JPEG 2000" in j2k.meta["transfer_syntax"]
    try:  # JPEG-LS needs pyjpegls; without it the error names the file and the syntax
        io.load(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))
    except MedMLLMError as e:
        assert "MR_small_jpeg_ls_lossless.dcm" in str(e) and "JPEG-LS Lossless" in str(e) and "\n" not in str(e)


def _series(tmp_path, positions, orientation=(1, 0, 0, 0, 1, 0), uid="1.2.3.4"):
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder = tmp_path / "series"
    folder.mkdir(exist_ok=True)
    normal = np.cross(orientation[:3], orientation[3:])
    for i, z in enumerate(positions):
        ds = src.copy()
        ds.SeriesInstanceUID = uid
        ds.ImageOrientationPatient = list(orientation)
        ds.ImagePositionPatient = [float(v) for v in np.asarray([10.0, 20.0, 0.0]) + z * normal]
        ds.RescaleIntercept = -1024 + 100 * z  # each slice's values tell where it was
        ds.InstanceNumber = i + 1
        ds.SOPInstanceUID = f"{uid}.{i}"
        ds.save_as(folder / f"slice{i:02d}.dcm")
    return folder


@pytest.mark.parametrize("orientation", [(1, 0, 0, 0, 1, 0), (0, 1, 0, 0, 0, -1)])  # axial, sagittal
def test_dicom_series_sorted_by_position(tmp_path, orientation):
    positions = [5.0, 0.0, 2.5, 10.0, 7.5]  # file order is shuffled
    folder = _series(tmp_path, positions, orientation)
    (folder / "README.txt").write_text("not DICOM")
    volume, spacing = io.read_volume(folder)
    raw = pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array.astype(np.float32)
    assert volume.shape == (5, 128, 128)
    for k, z in enumerate(sorted(positions)):
        np.testing.assert_array_equal(volume[k], raw - 1024 + 100 * z)
    assert spacing[0] == pytest.approx(2.5) and spacing[1:] == (0.661468, 0.661468)
    meta = io.load(folder).meta
    assert meta["orientation"] == [float(v) for v in orientation] and meta["files"] == 5


def test_series_errors(tmp_path):
    folder = _series(tmp_path, [0.0, 2.5])
    other = pydicom.dcmread(folder / "slice00.dcm")
    other.SeriesInstanceUID = "9.9.9"
    other.save_as(folder / "other.dcm")
    with pytest.raises(MedMLLMError, match="2 series in one folder"):
        io.read_volume(folder)
    (tmp_path / "dup").mkdir()
    with pytest.raises(MedMLLMError, match="same position"):
        io.read_volume(_series(tmp_path / "dup", [0.0, 0.0]))


def _wfdb(folder, names, fs=500, seconds=2):
    import wfdb

    t = np.arange(fs * seconds) / fs
    sig = np.stack([np.sin(2 * np.pi * (i + 1) * t) for i in range(len(names))], 1).astype(np.float64)
    wfdb.wrsamp("rec", fs=fs, units=["mV"] * len(names), sig_name=list(names), p_signal=sig, fmt=["16"] * len(names),
                adc_gain=[1000.0] * len(names), baseline=[0] * len(names), write_dir=str(folder))
    return folder / "rec", sig.T


def test_wfdb_leads_put_in_standard_order(tmp_path):
    names = ["v1", "i", "avr", "ii", "III", "aVL", "aVF", "V2", "V3", "V4", "V5", "V6"]
    rec, sig = _wfdb(tmp_path, names)
    signal, rate, leads = io.read_ecg(str(rec) + ".hea")
    assert leads == io.STANDARD_LEADS and rate == 500.0
    np.testing.assert_allclose(signal[0], sig[1], atol=1e-3)  # "i" -> I
    np.testing.assert_allclose(signal[6], sig[0], atol=1e-3)  # "v1" -> V1
    kept, _, kept_leads = io.read_ecg(rec, standard_order=False)
    assert kept_leads == names


def test_wfdb_nonstandard_leads_keep_their_order(tmp_path):
    rec, sig = _wfdb(tmp_path, ["MLII", "V1"])
    signal, _, leads = io.read_ecg(rec)
    assert leads == ["MLII", "V1"] and signal.shape == (2, 1000)


def test_content_beats_the_name(tmp_path):
    from PIL import Image

    Image.new("L", (8, 8), 200).save(tmp_path / "photo.jpg", format="JPEG")
    shutil.copy(tmp_path / "photo.jpg", tmp_path / "really_a_jpeg.png")
    assert io.detect_format(tmp_path / "really_a_jpeg.png") == "jpeg"
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "noext")
    assert io.load(tmp_path / "noext").modality == "CT"


def _bad_files(tmp_path):
    from PIL import Image

    (tmp_path / "text.png").write_text("hello, I am text")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.new("L", (64, 64), 10).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    shutil.copy(get_testdata_file("rtplan.dcm"), tmp_path / "nopixels.dcm")
    ct = (Path(get_testdata_file("CT_small.dcm"))).read_bytes()
    (tmp_path / "truncated.dcm").write_bytes(ct[: len(ct) // 3])
    header = (NIBABEL_DATA / "anatomical.nii").read_bytes()[:352]
    (tmp_path / "header_only.nii").write_bytes(header)
    (tmp_path / "garbage.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    rec, _ = _wfdb(tmp_path, ["I", "II"])
    os.remove(str(rec) + ".dat")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    return {"text.png": "unrecognised file content (looks like text)", "empty.png": "file is empty",
            "truncated.png": "not a readable PNG image", "nopixels.dcm": "no pixel data",
            "truncated.dcm": "pixel data is truncated or malformed", "header_only.nii": "not a readable NIfTI", "garbage.nii.gz": "not a readable NIfTI",
            "rec.hea": "WFDB data file missing", "bad.npy": "not a readable .npy"}


def test_bad_files_give_one_line_naming_the_file(tmp_path):
    for name, needle in _bad_files(tmp_path).items():
        with pytest.raises(MedMLLMError) as err:
            io.load(tmp_path / name)
        msg = str(err.value)
        assert msg.startswith(str(tmp_path / name)) and needle in msg and "\n" not in msg, (name, msg)


def test_processor_transforms_are_editable(tiny_model):
    _, processor = tiny_model
    base = processor.load("volume", np.zeros((16, 32, 32), np.float32))
    assert base.shape == (1, 16, 32, 32)
    processor.transforms("volume").insert(1, lambda d: {**d, "volume": d["volume"] + 200.0})
    shifted = processor.load("volume", np.zeros((16, 32, 32), np.float32))
    assert float(shifted.mean()) > float(base.mean())


def test_review_cases_palette_no_meta_enhanced_spacing_sigmoid(tmp_path):
    from pydicom.pixels import apply_color_lut, apply_voi_lut

    ds = pydicom.dcmread(get_testdata_file("examples_palette.dcm"))
    rgb = io.load(get_testdata_file("examples_palette.dcm")).array
    assert rgb.shape == ds.pixel_array.shape + (3,)
    lut = apply_color_lut(ds.pixel_array, ds).astype(np.float32)
    np.testing.assert_allclose(rgb, lut / (257.0 if lut.max() > 255 else 1.0))
    assert io.read_image(get_testdata_file("examples_palette.dcm")).shape[-1] == 3
    for name in ("ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"):  # no preamble, no file meta: read, then judged
        with pytest.raises(MedMLLMError, match="no pixel data"):
            io.load(get_testdata_file(name))
    seg = pydicom.dcmread(get_testdata_file("liver_1frame.dcm"))
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert io.load(get_testdata_file("liver_1frame.dcm")).spacing[-2:] == tuple(float(v) for v in measures.PixelSpacing)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ct.WindowCenter, ct.WindowWidth, ct.VOILUTFunction = 40, 400, "SIGMOID"
    ct.save_as(tmp_path / "sig.dcm")
    expected = apply_voi_lut(ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept), ct)
    got = io.read_image(tmp_path / "sig.dcm")
    np.testing.assert_allclose(got, (expected - expected.min()) / (expected.max() - expected.min()), atol=2e-3)


def test_review_cases_bad_inputs(tmp_path):
    from PIL import Image

    big = tmp_path / "huge.png"
    Image.new("L", (1, 1)).save(big)
    data = bytearray(big.read_bytes())
    data[16:24] = (100000).to_bytes(4, "big") + (100000).to_bytes(4, "big")  # IHDR width/height
    big.write_bytes(bytes(data))
    with pytest.raises(MedMLLMError, match="too large|not a readable PNG"):
        io.load(big)
    np.save(tmp_path / "c.npy", np.zeros((4, 4, 4), np.complex64))
    with pytest.raises(MedMLLMError, match="complex64"):
        io.read_volume(tmp_path / "c.npy")
    folder = _series(tmp_path, [0.0, 2.0, 4.0, 10.0, 12.0])
    with pytest.raises(MedMLLMError, match="uneven slice spacing"):
        io.read_volume(folder)
    (tmp_path / "o").mkdir()
    mixed = _series(tmp_path / "o", [0.0, 2.0, 4.0])
    ds = pydicom.dcmread(mixed / "slice01.dcm")
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(mixed / "slice01.dcm")
    with pytest.raises(MedMLLMError, match="orientation differs"):
        io.read_volume(mixed)
    (tmp_path / "nested" / "sub").mkdir(parents=True)
    with pytest.raises(MedMLLMError, match="1 subfolder"):
        io.read_volume(tmp_path / "nested")


def test_dicom_kind_from_the_header_equals_the_full_read():
    """The server picks a file's modality from its header (`dicom_kind`): for every file of pydicom's
    test data that reads, the same kind as the full read."""
    from pydicom.data import get_testdata_files

    from medmllm.data.io.dicom import dicom_kind, load_dicom

    kinds = {}
    for path in get_testdata_files("*.dcm"):
        try:
            expected = load_dicom(Path(path)).kind
        except MedMLLMError:
            continue
        assert dicom_kind(Path(path)) == expected, path
        kinds[expected] = kinds.get(expected, 0) + 1
    assert kinds.get("image", 0) > 20 and kinds.get("volume", 0) >= 3 and kinds.get("signal", 0) >= 1, kinds
