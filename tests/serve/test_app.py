"""The app over a real socket with a stand-in engine that generates slowly: 503 while loading, a
client that goes away cancels its generation, a request past its timeout gets 504, and the log
line carries sizes and timings only."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import httpx
import pytest
import torch
import uvicorn

from medmllm.engine import Output
from medmllm.serve.app import create_app
from medmllm.serve.config import ServeConfig

from conftest import free_port


class SlowEngine:
    """One token ("x") every 20 ms up to each row's budget; records how each row ended."""

    def __init__(self):
        self.ended: list[str] = []
        text = SimpleNamespace(max_position_embeddings=4096)
        self.model = SimpleNamespace(config=SimpleNamespace(text_config=text))
        self.processor = SimpleNamespace(settings=SimpleNamespace(num_tokens={}))

    def conversation(self, turns, inputs, prefix=""):
        return {"input_ids": torch.zeros(3, dtype=torch.long)}

    def run(self, rows, *args, **kw):
        outs = []
        for row in rows:
            n, reason = 0, "length"
            while n < row.max_new_tokens:
                if row.cancelled():
                    reason = "cancelled"
                    break
                time.sleep(0.02)
                n += 1
                if row.on_text:
                    row.on_text("x")
            self.ended.append(reason)
            outs.append(Output("x" * n, 3, n, reason))
            row.on_end(outs[-1])
        return outs


@pytest.fixture
def live(tmp_path):
    """A uvicorn server in a thread over `create_app` with a SlowEngine; yields (url, engine)."""
    engine, gate = SlowEngine(), threading.Event()

    def load(folder):
        gate.wait(30)
        return engine

    cfg = ServeConfig(model=tmp_path, ui=False, request_timeout=1.0)
    server = uvicorn.Server(uvicorn.Config(create_app(cfg, load=load), host="127.0.0.1", port=free_port(),
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.config.port}"
    while not server.started:
        time.sleep(0.02)
    yield url, engine, gate
    server.should_exit = True
    thread.join(10)


BODY = {"messages": [{"role": "user", "content": "hello"}]}


def test_503_while_loading_then_answers(live):
    url, engine, gate = live
    r = httpx.post(url + "/v1/chat/completions", json=BODY)
    assert r.status_code == 503 and r.headers["retry-after"] == "5" and r.json()["error"]["code"] == "model_loading"
    assert httpx.get(url + "/health").json() == {"status": "loading"}
    gate.set()
    while httpx.get(url + "/health").status_code != 200:
        time.sleep(0.02)
    r = httpx.post(url + "/v1/chat/completions", json={**BODY, "max_tokens": 3})
    assert r.json()["choices"][0]["message"]["content"] == "xxx"


def test_a_client_that_goes_away_is_cancelled(live):
    url, engine, gate = live
    gate.set()
    with httpx.stream("POST", url + "/v1/chat/completions", json={**BODY, "max_tokens": 500, "stream": True}) as r:
        for line in r.iter_lines():
            if '"content": "x"' in line:
                break  # one token seen: hang up
    for _ in range(100):
        if engine.ended:
            break
        time.sleep(0.05)
    assert engine.ended == ["cancelled"]
    # non-streaming: the client times out and closes; the server notices within its poll interval
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/chat/completions", json={**BODY, "max_tokens": 500}, timeout=0.3)
    for _ in range(100):
        if len(engine.ended) == 2:
            break
        time.sleep(0.05)
    assert engine.ended == ["cancelled", "cancelled"]


def test_a_request_past_its_timeout_gets_504(live):
    url, engine, gate = live
    gate.set()
    start = time.monotonic()
    r = httpx.post(url + "/v1/chat/completions", json={**BODY, "max_tokens": 500}, timeout=30)
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout"
    assert time.monotonic() - start < 3


def test_a_model_that_fails_to_load_is_reported_and_stops_the_server(tmp_path):
    from fastapi.testclient import TestClient

    failures = []
    app = create_app(ServeConfig(model=tmp_path, ui=False), load=lambda folder: 1 / 0, on_failure=failures.append)
    with TestClient(app) as client:
        for _ in range(100):
            if failures:
                break
            time.sleep(0.02)
        assert failures == ["ZeroDivisionError: division by zero"]
        assert client.get("/health").json() == {"status": "failed"}
        r = client.post("/v1/chat/completions", json=BODY)
        assert r.status_code == 503 and "failed to load" in r.json()["error"]["message"]


def test_cors_is_off_unless_origins_are_named(tmp_path):
    from fastapi.testclient import TestClient

    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"}
    with TestClient(create_app(ServeConfig(model=tmp_path, ui=False), load=lambda f: SlowEngine())) as client:
        r = client.options("/v1/chat/completions", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "https://evil.example"}).headers
    cfg = ServeConfig(model=tmp_path, ui=False, cors_origins=["https://viewer.example"])
    with TestClient(create_app(cfg, load=lambda f: SlowEngine())) as client:
        ok = client.options("/v1/chat/completions", headers={**preflight, "Origin": "https://viewer.example"})
        assert ok.headers["access-control-allow-origin"] == "https://viewer.example"
        assert "access-control-allow-origin" not in client.options("/v1/chat/completions", headers=preflight).headers
