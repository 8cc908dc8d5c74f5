"""`POST /v1/medmllm/preview` without a browser (the app in-process, the tiny model loaded by its
lifespan): what each kind of file gives, windows, and errors in OpenAI's shape, with nothing left
in the temporary folder."""
from __future__ import annotations

import base64
import io
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from serve_files import ct_series, data_url, png_bomb, zipped

KEY = "preview-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _app(model, load=None, **settings):
    from medmllm.serve import ServeConfig
    from medmllm.serve.app import create_app

    return create_app(ServeConfig(model=model, api_key=KEY, **settings), load=load)


def _ready(client: TestClient, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while client.get("/health").status_code != 200:
        assert time.monotonic() < end, "the model did not load"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def client(trained):
    with TestClient(_app(trained[0])) as c:
        _ready(c)
        yield c


@pytest.fixture(scope="module")
def data(trained):
    return trained[1]


def _post(client, file_data, window=None, headers=AUTH):
    return client.post("/v1/medmllm/preview", json={"file_data": file_data, "filename": "x", "window": window},
                       headers=headers)


def _pixels(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), dtype=np.int16)


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("medmllm-preview-*")}


def test_dicom_lists_its_own_window_first_and_a_preset_rewindows(client, data):
    from medmllm.data import io as mio

    dcm = data / "xray/xray-00000.dcm"
    before = _leftovers()
    r = _post(client, data_url(dcm, "application/dicom"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kind"], body["format"], body["modality"], body["shape"]) == ("image", "dicom", "DX", [256, 256])
    ids = [w["id"] for w in body["windows"]]
    assert ids[:2] == ["file", "auto"] and {"lung", "mediastinum", "bone", "brain"} <= set(ids)
    assert body["windows"][0]["label"] == "file (2048/4096)" and body["window"]["id"] == "file"
    own = _pixels(body["images"][0])
    assert own.shape == (256, 256)
    expected = np.round(mio.read_image(dcm) * 255)  # the same pixels `medmllm chat` windows with
    assert np.abs(own - expected).max() <= 1
    lung = _pixels(_post(client, data_url(dcm), "lung").json()["images"][0])
    custom = _post(client, data_url(dcm), [1500, 800]).json()
    assert np.abs(lung - own).mean() > 20 and np.abs(_pixels(custom["images"][0]) - own).mean() > 5
    assert custom["window"]["label"] == "custom (1500/800)"
    assert _leftovers() == before


def test_series_zip_is_a_volume_shown_in_its_own_window(client, data, tmp_path):
    files = ct_series(data / "ct/ct-00000.nii.gz", tmp_path / "series")
    body = _post(client, zipped(files)).json()
    assert (body["kind"], body["format"], body["modality"], body["shape"]) == ("volume", "dicom-series", "CT", [32, 64, 64])
    assert body["windows"][0]["label"] == "file (40/400)" and body["window"]["id"] == "file"
    assert len(body["images"]) == 32 and body["slices"] == list(range(32))
    brain = _post(client, zipped(files), "brain").json()["images"]
    assert np.abs(_pixels(brain[16]) - _pixels(body["images"][16])).mean() > 5


def test_nifti_gives_its_slices_as_radiologists_view_them(client, data):
    from medmllm.data import io as mio

    nii = data / "ct/ct-00000.nii.gz"
    body = _post(client, data_url(nii, "application/gzip")).json()
    assert (body["kind"], body["format"], body["shape"], body["depth"]) == ("volume", "nifti", [32, 64, 64], 32)
    assert [w["id"] for w in body["windows"]][0] == "auto" and body["window"]["id"] == "auto"
    volume, _ = mio.read_volume(nii)
    lo, hi = volume.min(), volume.max()
    for k in (0, 16, 31):
        want = np.round((volume[k][::-1, ::-1] - lo) / (hi - lo) * 255)  # anterior up, patient's right on the left
        assert np.abs(_pixels(body["images"][k]) - want).max() <= 1


def test_a_long_volume_gives_at_most_64_downsized_slices(client, tmp_path):
    import nibabel as nib

    x, y, z = np.indices((300, 200, 100))
    volume = ((x * 7 + y * 3 + z * 11) % 2000 - 1000).astype(np.int16)
    nib.save(nib.Nifti1Image(volume, np.diag([0.8, 0.8, 2.0, 1.0])), tmp_path / "long.nii.gz")
    body = _post(client, data_url(tmp_path / "long.nii.gz")).json()
    assert body["shape"] == [100, 200, 300] and len(body["images"]) == 64
    assert body["slices"][0] == 0 and body["slices"][-1] == 99 and body["slices"] == sorted(set(body["slices"]))
    assert _pixels(body["images"][0]).shape == (171, 256)  # 200 × 300 px of 0.8 mm: long side 256


def test_an_ecg_gives_a_twelve_lead_plot(client, data):
    record = data / "ecg/ecg-00000"
    body = _post(client, zipped([record.with_suffix(".hea"), record.with_suffix(".dat")])).json()
    assert (body["kind"], body["format"], body["windows"], body["window"]) == ("ecg", "wfdb", [], None)
    assert body["leads"] == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert (body["sampling_rate"], body["duration_s"], body["layout"]) == (500.0, 10.0, "3x4+II")
    plot = _pixels(body["images"][0])
    assert plot.shape[1] == 1100 and 400 < plot.shape[0] < 700 and plot.ndim == 3


def test_a_png_is_shown_as_stored_and_takes_no_window(client, data):
    png = data / "xray/xray-00000.png"
    body = _post(client, data_url(png, "image/png")).json()
    assert (body["kind"], body["format"], body["windows"]) == ("image", "png", [])
    assert np.array_equal(_pixels(body["images"][0]), np.asarray(Image.open(png).convert("L"), dtype=np.int16))
    r = _post(client, data_url(png), "lung")
    assert r.status_code == 400 and r.json()["error"]["param"] == "window"


@pytest.mark.parametrize("window, needle", [("sepia", "unknown window 'sepia'"), ([40], "give [centre, width]"),
                                            ([40, 0], "width must be >= 1")])
def test_a_bad_window_is_named(client, data, window, needle):
    r = _post(client, data_url(data / "xray/xray-00000.dcm"), window)
    assert r.status_code == 400 and needle in r.json()["error"]["message"], r.text
    assert r.json()["error"]["param"] == "window"


def test_bad_input_is_400_in_openai_shape_naming_the_part_only(client, tmp_path):
    before = _leftovers()
    r = _post(client, "data:application/dicom;base64,@@not base64@@")
    assert r.status_code == 400
    assert r.json() == {"error": {"message": "file_data: invalid base64", "type": "invalid_request_error",
                                  "param": "file_data", "code": None}}
    bomb = png_bomb(tmp_path)
    r = _post(client, data_url(bomb, "image/png"))
    error = r.json()["error"]
    assert r.status_code == 400 and error["message"].startswith("file_data") and "pixels" in error["message"]
    assert tempfile.gettempdir() not in error["message"] and "study-7731" not in error["message"]
    (tmp_path / "copy.png").write_bytes(bomb.read_bytes())
    r = _post(client, zipped([bomb, tmp_path / "copy.png"]))  # a folder of two PNGs: no DICOM series
    assert r.status_code == 400 and r.json()["error"]["param"] == "file_data"
    r = client.post("/v1/medmllm/preview", json={"filename": "x"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["message"] == "file_data: is required"
    assert _leftovers() == before


def test_key_required_when_set(client, data):
    url = data_url(data / "xray/xray-00000.dcm")
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = _post(client, url, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_503_while_loading_and_413_past_the_body_limit(client, trained, data):
    gate = threading.Event()
    engine = client.app.state.engine

    def slow(_):
        gate.wait(30)
        return engine

    with TestClient(_app(trained[0], load=slow, max_body_mb=0.1)) as small:
        r = _post(small, data_url(data / "xray/xray-00000.png"))
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        gate.set()
        _ready(small)
        assert _post(small, data_url(data / "xray/xray-00000.png")).status_code == 200
        r = _post(small, data_url(data / "xray/xray-00000.dcm"))  # 175 kB of base64: over 0.1 MiB
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_the_page_and_its_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and 'src="/static/app.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("app.js", "javascript"), ("zip.js", "javascript"), ("app.css", "css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    assert client.get("/static/../app.py").status_code == 404 and client.get("/static/nope.js").status_code == 404
