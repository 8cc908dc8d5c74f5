"""Bad requests, as an attacker would send them: each gets the right 4xx in OpenAI's error shape,
no traceback, nothing of the request in the server's log, and the server answers the next good one."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import zlib

import httpx
import pytest
from openai import AsyncOpenAI, RateLimitError

from conftest import part

GOOD = {"model": "model", "max_tokens": 4,
        "messages": [{"role": "user", "content": "Is there a pleural effusion?"}]}
PHI = "Jonathan Quixote-Smithers MRN 99887766"


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _with(part_):
    return {**GOOD, "messages": [{"role": "user", "content": [part_, {"type": "text", "text": "What is it? " + PHI}]}]}


def _image(url):
    return _with({"type": "image_url", "image_url": {"url": url}})


def _cases(data):
    dicom = (data / "xray/xray-00000.dcm").read_bytes()
    truncated = "data:application/dicom;base64," + base64.b64encode(dicom[: len(dicom) // 3]).decode()
    bomb = "data:image/png;base64," + base64.b64encode(_png_claiming(30000, 30000)).decode()
    two_images = {**GOOD, "messages": [{"role": "user", "content": [part(data, "xray/xray-00000.png"),
                                                                    {"type": "text", "text": "<image> and <image>?"}]}]}
    return {
        "malformed JSON": (400, b'{"model": "model", "messages": [', {}),
        "wrong type": (422, json.dumps({**GOOD, "max_tokens": PHI}).encode(), {}),
        "messages not a list": (422, json.dumps({**GOOD, "messages": PHI}).encode(), {}),
        "unknown part type": (422, json.dumps(_with({"type": "input_audio", "input_audio": {"data": PHI}})).encode(), {}),
        "bad base64": (400, json.dumps(_image("data:image/png;base64,@@not base64@@")).encode(), {}),
        "truncated DICOM": (400, json.dumps(_with({"type": "file", "file": {"file_data": truncated,
                                                                           "filename": "Quixote-Smithers.dcm"}})).encode(), {}),
        "PNG claiming 30000 x 30000": (400, json.dumps(_image(bomb)).encode(), {}),
        "file:///etc/passwd": (400, json.dumps(_image("file:///etc/passwd")).encode(), {}),
        "file:// escaping the allowed folder": (400, json.dumps(_image(f"file://{data}/../../../etc/passwd")).encode(), {}),
        "http:// image URL": (400, json.dumps(_image("http://example.com/x.png")).encode(), {}),
        "placeholder mismatch": (400, json.dumps(two_images).encode(), {}),
        "unknown model": (404, json.dumps({**GOOD, "model": "gpt-9"}).encode(), {}),
        "n beyond the batch": (400, json.dumps({**GOOD, "n": 9}).encode(), {}),
        "missing API key": (401, json.dumps(GOOD).encode(), {"Authorization": None}),
        "wrong API key": (401, json.dumps(GOOD).encode(), {"Authorization": "Bearer wrong-key"}),
        "oversized body": (413, json.dumps(_image("data:image/png;base64," + "A" * (3 << 20))).encode(), {}),
    }


def test_bad_requests_get_openai_errors_and_the_server_goes_on(server, trained):
    _, data = trained
    good_headers = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for name, (status, body, headers) in _cases(data).items():
            sent = {k: v for k, v in {**good_headers, **headers}.items() if v is not None}
            r = http.post("/v1/chat/completions", content=body, headers=sent)
            assert r.status_code == status, (name, r.status_code, r.text[:300])
            error = r.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["message"], name
            assert "Traceback" not in r.text and "/tmp/" not in r.text and "Smithers" not in r.text, (name, r.text)
            assert "\n" not in error["message"], name
            ok = http.post("/v1/chat/completions", json=GOOD, headers=good_headers)
            assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] is not None, name
    log = server.log()
    assert "Smithers" not in log and "99887766" not in log and "Traceback" not in log
    assert "status=413" in log and "status=422" in log


def test_local_files_only_inside_the_allowed_folder(server, trained, tmp_path):
    _, data = trained
    headers = {"Authorization": f"Bearer {server.key}"}
    inside = httpx.post(server.url + "/v1/chat/completions", headers=headers, timeout=60,
                        json=_image(f"file://{data}/xray/xray-00000.png"))
    assert inside.status_code == 200, inside.text
    link = data / "escape.png"
    os.symlink("/etc/passwd", link)
    try:
        out = httpx.post(server.url + "/v1/chat/completions", headers=headers, timeout=60,
                         json=_image(f"file://{link}"))
    finally:
        link.unlink()
    assert out.status_code == 400 and "outside the allowed" in out.json()["error"]["message"]


def test_health_is_open_and_the_rest_needs_the_key(server):
    assert httpx.get(server.url + "/health").status_code == 200
    for path in ("/v1/models", "/metrics"):
        assert httpx.get(server.url + path).status_code == 401
    r = httpx.get(server.url + "/v1/nothing", headers={"Authorization": f"Bearer {server.key}"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_100_concurrent_requests_get_200_or_429_and_the_server_lives(server, trained):
    _, data = trained
    message = [{"role": "user", "content": [part(data, "xray/xray-00002.png"), {"type": "text", "text": "Is there a pneumothorax?"}]}]

    async def main():
        client = AsyncOpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0, timeout=120)

        async def one(i):
            try:
                r = await client.chat.completions.create(model="model", messages=message, max_tokens=8,
                                                         stream=i % 4 == 0)
                if i % 4 == 0:
                    return 200 if [c async for c in r] else 0
                return 200 if r.choices[0].message.content is not None else 0
            except RateLimitError as e:
                assert e.response.headers.get("retry-after") == "1"
                return 429

        return await asyncio.gather(*(one(i) for i in range(100)))

    codes = asyncio.run(main())
    assert set(codes) <= {200, 429} and codes.count(200) >= 16, codes
    assert server.alive()


@pytest.mark.parametrize("flags, message", [
    (["--port", "70000"], "--port: 70000 must be in [0, 65536)"),
    (["--max-batch", "0"], "--max-batch: 0 must be at least 1"),
])
def test_bad_flags_are_one_line(trained, flags, message):
    import subprocess
    import sys

    model, _ = trained
    proc = subprocess.run([sys.executable, "-m", "medmllm.cli", "serve", "--model", str(model), *flags],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {message}", proc.stderr


def test_a_folder_that_is_no_model_fails_before_listening(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "medmllm.cli", "serve", "--model", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {tmp_path}: not a saved medmllm model (no config.json or adapter_config.json)"
