"""The page at `/` in a real headless browser: Debian's chromium driven by playwright (never a
downloaded browser), against `medmllm serve` started as a child process and stopped by its id.

Each step is asserted: the key, a DICOM shown in its own window and re-windowed, a question whose
answer streams into the chat, a second turn that keeps the file in the history, the same call as
curl and Python; a NIfTI's slider, a DICOM series and an ECG record picked as several files (zipped
by the page), the reasoning panel, and errors shown inline. With MEDMLLM_SCREENSHOT=1 the page is
saved to docs/serve_ui.png.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conftest import Server
from serve_files import ct_series

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY = "ui-key-4821"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "serve_ui.png"


@pytest.fixture(scope="module")
def site(trained, tmp_path_factory):
    srv = Server(trained[0], key=KEY, log=tmp_path_factory.mktemp("uilog") / "server.log")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: the page test drives Debian's chromium; run `apt-get install chromium` "
                    "(never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, site):
    """A fresh page with the key entered; console errors and page errors collected in `page.problems`."""
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    pg = context.new_page()
    pg.problems = []
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("console", lambda m: m.type == "error" and "status of 401" not in m.text and pg.problems.append(m.text))
    pg.goto(site.url + "/")
    assert pg.title() == "medmllm"
    yield pg
    context.close()


def until(page, js: str, timeout: float = 60) -> None:
    """Poll a JavaScript expression (the page's policy forbids eval, so no wait_for_function)."""
    end = time.monotonic() + timeout
    while not page.evaluate(js):
        assert time.monotonic() < end, f"timed out waiting for {js}"
        time.sleep(0.05)


def enter_key(page, key: str = KEY) -> None:
    page.fill("#key", key)
    page.press("#key", "Tab")
    page.wait_for_selector("#status.ok" if key == KEY else "#status.bad", timeout=30_000)


def open_files(page, files) -> None:
    shown = page.evaluate("Number(document.body.dataset.shown || 0)")
    page.set_input_files("#file", files)
    until(page, f"Number(document.body.dataset.shown || 0) > {shown} || !document.getElementById('viewerror').hidden")
    assert page.is_hidden("#viewerror"), page.inner_text("#viewerror")
    until(page, "document.getElementById('view').complete && document.getElementById('view').naturalWidth > 0")


def pick_window(page, value: str) -> None:
    shown = page.evaluate("Number(document.body.dataset.shown)")
    page.select_option("#window", value)
    until(page, f"Number(document.body.dataset.shown) > {shown}")


def ask(page, question: str) -> str:
    """Send a question; return the answer once its bubble is done (an error in it fails the test)."""
    done = page.locator(".msg.assistant.done").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    until(page, f"document.querySelectorAll('.msg.assistant.done').length > {done}")
    reply = page.locator(".msg.assistant").nth(done)
    assert reply.locator(".error").count() == 0, reply.inner_text()
    return reply.locator(".content").inner_text()


def src(page) -> str:
    return page.get_attribute("#view", "src")


def test_dicom_windowed_question_answered_as_it_streams(page, site, trained):
    data = trained[1]
    requests = []
    page.on("request", lambda r: r.url.endswith("/v1/chat/completions") and requests.append(json.loads(r.post_data)))
    streamed = []
    page.on("response", lambda r: r.url.endswith("/v1/chat/completions") and streamed.append(r.headers["content-type"]))
    enter_key(page)
    assert page.inner_text("#model") == "model"

    open_files(page, data / "xray/xray-00000.dcm")
    own = src(page)
    assert own.startswith("data:image/png;base64,") and page.evaluate("document.getElementById('view').naturalWidth") == 256
    assert page.input_value("#window") == "file" and "DICOM · DX · 256 × 256" in page.inner_text("#meta")
    assert page.locator("#window option", has_text="file (2048/4096)").count() == 1
    pick_window(page, "lung")
    assert src(page) != own and src(page).startswith("data:image/png;base64,")
    pick_window(page, "file")
    assert src(page) == own

    first = ask(page, "Is there a pleural effusion?")
    assert first.strip()
    assert len(streamed) == 1 and streamed[0].startswith("text/event-stream") and requests[0]["stream"] is True
    part = requests[0]["messages"][0]["content"][0]
    assert part["type"] == "file" and part["file"]["file_data"].startswith("data:application/dicom;base64,")
    second = ask(page, "Is there cardiomegaly?")
    assert second.strip()
    history = requests[1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"] and history[1]["content"] == first
    assert history[0]["content"][0] == part and history[2]["content"] == "Is there cardiomegaly?"
    if os.environ.get("MEDMLLM_SCREENSHOT"):
        from medmllm.files import atomic_path

        with atomic_path(SCREENSHOT) as tmp:
            page.screenshot(path=str(tmp))

    page.check("#think")
    page.fill("#question", "What is the cardiothoracic ratio?")
    page.click("#copycurl")
    curl = page.inner_text("#snippet")
    assert "/v1/chat/completions" in curl and "$(base64 -w0 'xray-00000.dcm')" in curl and KEY not in curl
    assert "$MEDMLLM_API_KEY" in curl and '"enable_thinking": true' in curl
    page.click("#copypy")
    python = page.inner_text("#snippet")
    assert "client.chat.completions.create(" in python and '"data:application/dicom;base64," + data' in python
    assert not page.problems, page.problems
    log = site.log()
    assert "/v1/medmllm/preview status=200" in log
    assert "xray-00000" not in log and "pleural" not in log  # no file names, no questions in the logs


def test_volume_slider_series_and_ecg(page, trained, tmp_path):
    data = trained[1]
    enter_key(page)
    open_files(page, data / "ct/ct-00000.nii.gz")
    assert page.is_visible("#slicebox") and page.get_attribute("#slice", "max") == "31"
    assert page.inner_text("#sliceno") == "17 / 32" and "NIfTI · 32 × 64 × 64" in page.inner_text("#meta")
    middle = src(page)
    page.fill("#slice", "3")
    assert page.inner_text("#sliceno") == "4 / 32" and src(page) != middle

    open_files(page, ct_series(data / "ct/ct-00000.nii.gz", tmp_path / "series"))  # 32 files, zipped by the page
    assert "DICOM series · CT · 32 × 64 × 64" in page.inner_text("#meta") and page.input_value("#window") == "file"
    assert page.locator("#window option", has_text="file (40/400)").count() == 1
    assert page.inner_text("#fileinfo") == "DICOM series of 32 files"
    assert ask(page, "Is there a liver lesion?").strip()

    record = data / "ecg/ecg-00000"
    open_files(page, [record.with_suffix(".hea"), record.with_suffix(".dat")])
    assert page.get_attribute("#view", "class") == "ecg" and page.evaluate("document.getElementById('view').naturalWidth") == 1100
    assert page.is_hidden("#windowbox") and page.is_hidden("#slicebox") and "12 leads · 500 Hz" in page.inner_text("#meta")
    assert ask(page, "What is the rhythm?").strip()
    assert not page.problems, page.problems


SSE = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
       {"choices": [{"index": 0, "delta": {"reasoning_content": "The costophrenic angles "}}]},
       {"choices": [{"index": 0, "delta": {"reasoning_content": "are sharp."}}]},
       {"choices": [{"index": 0, "delta": {"content": "no"}}]},
       {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]


def _sse(events) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def test_reasoning_panel_and_errors_inline(page, trained):
    data = trained[1]
    enter_key(page, "wrong")
    page.set_input_files("#file", data / "xray/xray-00000.png")
    page.wait_for_selector("#viewerror:not([hidden])")
    assert "401" in page.inner_text("#viewerror") and "API key" in page.inner_text("#viewerror")

    enter_key(page)
    open_files(page, data / "xray/xray-00000.png")
    assert page.is_hidden("#windowbox")  # a PNG is shown as stored
    page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream"}, body=_sse(SSE)))
    page.check("#think")
    assert ask(page, "Is there a pleural effusion?") == "no"
    panel = page.locator(".msg.assistant details.reasoning")
    assert panel.count() == 1 and panel.get_attribute("open") is None
    panel.locator("summary").click()
    assert panel.get_attribute("open") is not None and panel.locator(".rtext").inner_text() == "The costophrenic angles are sharp."

    error = {"error": {"message": "the request took longer than 300 s", "type": "timeout", "param": None, "code": "timeout"}}
    page.unroute("**/v1/chat/completions")
    page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream"}, body=_sse([SSE[0], error])))
    page.fill("#question", "And the heart?")
    page.press("#question", "Enter")
    page.wait_for_selector(".msg.assistant.done >> nth=1")
    assert page.locator(".msg.assistant").nth(1).locator(".error").inner_text() == "the request took longer than 300 s"
    assert not page.problems, page.problems
