"""Shared fixtures for the server tests: a tiny model trained on MedSynth x-ray + CT + ECG, and a
`medmllm serve` process on a free loopback port, stopped by its process id."""
from __future__ import annotations

import base64
import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tiny import tiny_model_dict

KEY = "test-key-0123"


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(model folder, MedSynth folder): 40 SFT steps on x-ray, CT and ECG questions (about 20 s)."""
    from medmllm.config import RunConfig, from_dict
    from medmllm.recipes import run
    from medmllm.synth import synthesize

    root = tmp_path_factory.mktemp("served")
    data = root / "data"
    synthesize(data, ["xray", "ct", "ecg"], n=60, seed=3)
    model = tiny_model_dict()
    model["encoders"]["ecg"]["params"] = {**model["encoders"]["ecg"]["params"], "samples": 5000, "patch_size": 250}
    manifests = [str(data / f"{m}_vqa_train.jsonl") for m in ("xray", "ct", "ecg")]
    run(from_dict(RunConfig, {"model": model, "data": {"train": manifests, "max_length": 384},
                              "train": {"stage": "sft", "output_dir": str(root / "sft"), "batch_size": 8,
                                        "learning_rate": 3e-3, "logging_steps": 10, "save_steps": 1000,
                                        "max_steps": 40, "trainable": {"encoders": "full", "llm": "full"}}}))
    return root / "sft" / "model", data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`medmllm serve` in a child process; `.url`, `.key`, `.log()` (what it wrote to stderr)."""

    def __init__(self, model: Path, *flags: str, key: str | None = KEY, log: Path):
        self.port, self.key, self.log_path = free_port(), key, log
        args = [sys.executable, "-m", "medmllm.cli", "serve", "--model", str(model), "--port", str(self.port), *flags]
        if key:
            args += ["--api-key", key]
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "MEDMLLM_API_KEY": ""})
        self.url = f"http://127.0.0.1:{self.port}"
        self.wait()

    def wait(self, timeout: float = 120) -> None:
        """Until /health answers 200; a server that never does is stopped before the error."""
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.log()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in {timeout} s: {self.log()[-2000:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None and httpx.get(self.url + "/health", timeout=5).status_code == 200

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def server(trained, tmp_path_factory):
    """A server with a key, a 2 MiB body limit, the MedSynth folder allowed for file:// URLs, and a
    small batch and queue (so the load test reaches 429)."""
    model, data = trained
    srv = Server(model, "--max-body-mb", "2", "--allowed-local-media-path", str(data), "--max-batch", "8",
                 "--max-queue", "16", log=tmp_path_factory.mktemp("serverlog") / "server.log")
    yield srv
    srv.stop()


def data_url(path: Path, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode()


def zip_url(files: list[Path]) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f"record/{Path(f).name}")
    return "data:application/zip;base64," + base64.b64encode(buf.getvalue()).decode()


def part(data: Path, rel: str) -> dict:
    """The content part a client sends for a MedSynth file: PNG as `image_url`, the rest as `file`."""
    path = data / rel
    if rel.endswith(".png"):
        return {"type": "image_url", "image_url": {"url": data_url(path, "image/png")}}
    if path.suffix == "" or rel.startswith("ecg/"):
        record = path.with_suffix("")
        return {"type": "file", "file": {"file_data": zip_url([Path(str(record) + ".hea"), Path(str(record) + ".dat")]),
                                         "filename": "record.zip"}}
    mime = "application/dicom" if rel.endswith(".dcm") else "application/gzip"
    return {"type": "file", "file": {"file_data": data_url(path, mime), "filename": path.name}}
