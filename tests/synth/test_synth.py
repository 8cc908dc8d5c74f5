"""Tests for the MedSynth synthetic data set (medmllm.synth)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
import wfdb
from PIL import Image

from medmllm.synth import make_case, synthesize
from medmllm.synth import ecg as ecg_mod
from medmllm.synth import xray as xray_mod
from medmllm.synth._util import case_rng

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:wfdb.*")

N = 16
MODALITIES = ("xray", "ct", "ecg")
TASKS = ("report", "vqa", "reason")
SPLITS = ("train", "val", "test")
PLACEHOLDER = {"xray": "<image>", "ct": "<volume>", "ecg": "<ecg>"}
MEDIA = {"xray": "image", "ct": "volume", "ecg": "ecg"}
IDENTIFYING_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "SeriesDate", "AccessionNumber", "InstitutionName", "ReferringPhysicianName",
                    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
THINK = re.compile(r"^<think>(.+)</think><answer>(.+)</answer>$", re.S)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("medsynth")
    return out, synthesize(out, n=N, seed=0)


def _load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _all_records(manifests: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    return {name: _load(path) for name, path in manifests.items()}


def test_unknown_modality() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown modality 'foo'; choose from ct, ecg, xray")):
        synthesize("/nonexistent-never-written", modalities=("foo",), n=1)


def test_manifest_names_and_info(data: tuple[Path, dict[str, Path]]) -> None:
    out, manifests = data
    expected = {f"{m}_{t}_{s}" for m in MODALITIES for t in TASKS for s in SPLITS}
    assert set(manifests) == expected and len(expected) == 27
    info = json.loads((out / "medsynth.json").read_text())
    assert info["version"] == 1 and info["seed"] == 0 and info["n"] == N
    assert info["modalities"] == list(MODALITIES)
    for name, path in manifests.items():
        assert path == out / f"{name}.jsonl" and path.is_file()
        assert info["counts"][name] == len(_load(path))
    for m in MODALITIES:  # exact split sizes (0.8/0.1/0.1 of 16 -> 13/2/1 after rounding)
        sizes = [info["counts"][f"{m}_report_{s}"] for s in SPLITS]
        assert sum(sizes) == N and sizes[0] == round(0.8 * N)


def test_files_decode(data: tuple[Path, dict[str, Path]]) -> None:
    out, _ = data
    png = Image.open(out / "xray" / "xray-00000.png")
    assert png.size == (256, 256) and png.mode == "L"
    ds = pydicom.dcmread(out / "xray" / "xray-00000.dcm")
    assert ds.pixel_array.shape == (256, 256) and ds.pixel_array.dtype == np.uint16
    assert int(ds.pixel_array.max()) <= 4095 and ds.BitsStored == 12
    assert ds.Modality == "DX" and ds.ViewPosition == "PA" and ds.BodyPartExamined == "CHEST"
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert ds.SOPClassUID == pydicom.uid.DigitalXRayImageStorageForPresentation
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    for tag in IDENTIFYING_TAGS:
        assert str(getattr(ds, tag, "")).strip(), tag
    assert "^" in str(ds.PatientName)
    assert any(elem.tag.is_private for elem in ds)
    np.testing.assert_array_equal(np.asarray(png), (ds.pixel_array >> 4).astype(np.uint8))
    img = nib.load(out / "ct" / "ct-00000.nii.gz")
    vol = img.get_fdata()
    assert vol.shape == (64, 64, 32) and img.get_data_dtype() == np.int16
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    assert vol.min() >= -1024 and vol.max() > 500  # air and bone present
    rec = wfdb.rdrecord(str(out / "ecg" / "ecg-00000"))
    assert rec.n_sig == 12 and rec.fs == 500 and rec.sig_len == 5000
    assert rec.sig_name == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert set(rec.units) == {"mV"} and set(rec.fmt) == {"16"}
    sig = rec.p_signal
    np.testing.assert_allclose(sig[:, 2], sig[:, 1] - sig[:, 0], atol=1e-6)  # III = II - I


def test_determinism(data: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    out, manifests = data
    again = synthesize(tmp_path / "same", n=N, seed=0)
    for name, path in manifests.items():
        assert again[name].read_bytes() == path.read_bytes(), name
    for rel in ("xray/xray-00003.png", "xray/xray-00003.dcm", "ct/ct-00003.nii.gz", "ecg/ecg-00003.dat",
                "ecg/ecg-00003.hea", "medsynth.json"):
        assert (tmp_path / "same" / rel).read_bytes() == (out / rel).read_bytes(), rel
    other = synthesize(tmp_path / "other", n=N, seed=1)
    assert other["xray_vqa_train"].read_bytes() != manifests["xray_vqa_train"].read_bytes()
    assert (tmp_path / "other" / "xray/xray-00003.png").read_bytes() != (out / "xray/xray-00003.png").read_bytes()
    assert (tmp_path / "other" / "ecg/ecg-00003.dat").read_bytes() != (out / "ecg/ecg-00003.dat").read_bytes()


def test_yes_no_balance(data: tuple[Path, dict[str, Path]]) -> None:
    for name, recs in _all_records(data[1]).items():
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for rec in recs:
            meta = rec["meta"]
            if meta["answer_type"] == "CLOSED":
                assert meta["answer"] in ("yes", "no")
                counts[meta["question_type"]][meta["answer"]] += 1
        for qtype, c in counts.items():
            assert c["yes"] == c["no"], (name, qtype, c)


def test_record_format(data: tuple[Path, dict[str, Path]]) -> None:
    out, manifests = data
    ids: set[str] = set()
    for name, recs in _all_records(manifests).items():
        modality, task, split = name.split("_")
        for rec in recs:
            assert rec["id"] not in ids
            ids.add(rec["id"])
            human, gpt = rec["conversations"]
            assert human["from"] == "human" and gpt["from"] == "gpt"
            assert human["value"].startswith(PLACEHOLDER[modality] + "\n")
            meta = rec["meta"]
            assert (meta["modality"], meta["task"], meta["split"]) == (modality, task, split)
            media = rec[MEDIA[modality]]
            assert not Path(media).is_absolute()
            if modality == "ecg":
                assert (out / f"{media}.hea").is_file() and (out / f"{media}.dat").is_file()
            else:
                assert (out / media).is_file()
            if modality == "xray":
                assert (out / meta["dicom"]).is_file()
            json.dumps(meta["findings"])
            if task == "reason":
                match = THINK.match(gpt["value"])
                assert match and match.group(1) == meta["rationale"] and match.group(2) == meta["answer"]
            elif task == "report":
                assert meta["answer_type"] == "REPORT"
                keys = ("Rhythm:", "Rate:", "Interpretation:") if modality == "ecg" else ("FINDINGS:", "IMPRESSION:")
                assert all(k in gpt["value"] for k in keys)
            else:
                assert gpt["value"] == meta["answer"]


def test_open_questions_make_sense(data: tuple[Path, dict[str, Path]]) -> None:
    for recs in _all_records(data[1]).values():
        for rec in recs:
            meta, f = rec["meta"], rec["meta"]["findings"]
            q = meta["question_type"]
            if q == "effusion_side":
                assert f["effusion"] and meta["answer"] == f["effusion_side"] in ("left", "right")
            elif q == "pneumothorax_side":
                assert f["pneumothorax"] and meta["answer"] == f["pneumothorax_side"]
            elif q in ("nodule_count", "lesion_count"):
                assert meta["answer"].isdigit()
            elif q in ("nodule_zone", "nodule_size"):
                assert f["n_nodules"] > 0
            elif q == "heart_rate":
                assert meta["answer"] == f"{f['heart_rate_bpm']} bpm"
            elif q == "ctr_above_0.5":
                assert f"{f['heart_width_cm']} cm" in meta["rationale"] and f"{f['ctr']:.2f}" in meta["rationale"]
            elif q == "rr_below_600ms":
                assert f"{f['mean_rr_ms']} ms" in meta["rationale"]


def test_ctr_iff_cardiomegaly() -> None:
    for i in range(300):
        f = xray_mod.sample_findings(case_rng(0, "xray", i, 0))
        assert (f["ctr"] > 0.5) == f["cardiomegaly"]
        assert f["ctr"] == round(f["heart_width_cm"] / f["thorax_width_cm"], 2)
        lo, hi = (0.55, 0.65) if f["cardiomegaly"] else (0.38, 0.47)
        assert lo <= f["ctr"] <= hi
        assert abs(f["geometry"]["heart_px"] * xray_mod.SPACING_MM / 10 - f["heart_width_cm"]) < 0.01
        assert f["normal"] == (not (f["cardiomegaly"] or f["effusion"] or f["pneumothorax"] or f["n_nodules"]))


def test_af_rr_irregular() -> None:
    cv: dict[str, list[float]] = defaultdict(list)
    for i in range(120):
        f = ecg_mod.sample_findings(case_rng(0, "ecg", i, 0))
        rr = np.diff(f["r_peak_samples"]) / ecg_mod.FS
        cv[f["rhythm"]].append(float(rr.std() / rr.mean()))
        lo, hi = ecg_mod.RHYTHMS[f["rhythm"]]
        assert lo <= f["heart_rate_bpm"] <= hi
        assert f["heart_rate_bpm"] == round(60000 / f["mean_rr_ms"])
    sinus = [v for k, vals in cv.items() if k != "atrial fibrillation" for v in vals]
    assert min(cv["atrial fibrillation"]) > max(sinus)


def _find_xray(pred: Any, start: int = 0) -> tuple[int, dict[str, Any]]:
    for i in range(start, start + 500):
        f = xray_mod.sample_findings(case_rng(0, "xray", i, 0))
        if pred(f):
            return i, f
    raise AssertionError("no matching case")


def _lower_zone_mean(img: np.ndarray, f: dict[str, Any], side: str) -> float:
    u, v = xray_mod.lung_uv(xray_mod._X, xray_mod._Y, f["geometry"], side)
    box = (u > 0.35) & (u < 0.85) & (v > 0.72) & (v < 0.84)
    return float(img[box].mean())


def test_left_effusion_visible(tmp_path: Path) -> None:
    i_eff, f_eff = _find_xray(lambda f: f["effusion_side"] == "left" and not f["cardiomegaly"] and not f["nodules"])
    i_norm, f_norm = _find_xray(lambda f: f["normal"])
    imgs = {}
    for i in (i_eff, i_norm):
        case = make_case(tmp_path, "xray", i, seed=0)
        imgs[i] = np.asarray(Image.open(tmp_path / case.paths["image"]), dtype=np.float32)
    eff_right_of_image = _lower_zone_mean(imgs[i_eff], f_eff, "left")  # patient's left = image right
    assert eff_right_of_image > _lower_zone_mean(imgs[i_norm], f_norm, "left") + 40
    assert eff_right_of_image > _lower_zone_mean(imgs[i_eff], f_eff, "right") + 40


def test_nodule_and_pneumothorax_salient_at_96px() -> None:
    _, f = _find_xray(lambda f: f["n_nodules"] > 0 and not f["pneumothorax"])
    img = xray_mod.render(f, case_rng(0, "xray", 0, 1)).astype(np.float32)
    small = np.asarray(Image.fromarray(img).resize((96, 96), Image.Resampling.BILINEAR))
    for nod in f["nodules"]:
        x, y = (int(round(c * 96 / 256)) for c in nod["center_px"])
        ring = small[max(0, y - 6):y + 7, max(0, x - 6):x + 7]
        assert small[y, x] > np.median(ring) + 400  # 12-bit units
    _, f = _find_xray(lambda f: f["pneumothorax"] and not f["effusion"])
    img = xray_mod.render(f, case_rng(0, "xray", 0, 1)).astype(np.float32)
    side = f["pneumothorax_side"]
    u, v = xray_mod.lung_uv(xray_mod._X, xray_mod._Y, f["geometry"], side)
    ptx = xray_mod.in_lung(u, v) & (xray_mod.ptx_r(u, v, f["geometry"]) > 1.1)
    lung = xray_mod.in_lung(u, v) & (xray_mod.ptx_r(u, v, f["geometry"]) < 0.8)
    assert ptx.sum() > 150 and img[ptx].mean() < img[lung].mean() - 300


def test_case_independent_of_n_and_progress(tmp_path: Path) -> None:
    small = synthesize(tmp_path / "a", modalities="ct", n=3, seed=0, progress=True)
    assert set(small) == {f"ct_{t}_{s}" for t in TASKS for s in SPLITS}
    big = synthesize(tmp_path / "b", modalities=["ct"], n=5, seed=0)
    assert big and (tmp_path / "a/ct/ct-00002.nii.gz").read_bytes() == (tmp_path / "b/ct/ct-00002.nii.gz").read_bytes()
    with pytest.raises(ValueError):
        synthesize(tmp_path / "c", modalities=["ct"], n=2, split_fractions=(0.5, 0.5, 0.5))
