"""`medmllm serve`: an OpenAI-compatible server that reads what a hospital has (DICOM files and
series, NIfTI volumes, WFDB and DICOM ECGs), and a viewer-chat page over the same API.

    config.py       ServeConfig: every setting, typed and range-checked (the CLI's flags)
    protocol.py     the OpenAI wire format: request models, answers, stream chunks, errors
    media.py        content parts -> input tensors, the reader chosen by content
    batcher.py      dynamic batching over `Engine.run`: a bounded queue, one worker thread
    completions.py  POST /v1/chat/completions: JSON or server-sent events
    metrics.py      Prometheus counters and histograms for /metrics
    app.py          routes, key check, error shapes, one log line per request
    preview.py      a file as the page shows it: windowed PNG, volume slices, a 12-lead ECG plot
    ui.py           the page at / (upload, view with windows/slices/leads, chat) and its preview route

`run(cfg)` binds the socket first (so a taken port fails at once), then loads the model in a
thread while `/health` already answers.
"""
from __future__ import annotations

import logging
import socket
import sys

from .config import ServeConfig

__all__ = ["ServeConfig", "run"]


def run(cfg: ServeConfig) -> None:
    """Serve until interrupted; exit status 2 when the model cannot be loaded."""
    import uvicorn

    from ..errors import MedMLLMError
    from .app import create_app

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    sock = _bind(cfg.host, cfg.port)
    host, port = sock.getsockname()[:2]
    failed: list[str] = []

    def on_failure(message: str) -> None:
        failed.append(message)
        server.should_exit = True

    server = uvicorn.Server(uvicorn.Config(create_app(cfg, on_failure=on_failure), log_level="warning",
                                           access_log=False, lifespan="on"))
    shown = f"[{host}]" if ":" in host else host
    print(f"medmllm serve: http://{shown}:{port} (model '{cfg.served_model_name}'"
          f"{', key required' if cfg.api_key else ''}); loading {cfg.model}", file=sys.stderr, flush=True)
    if not _loopback(host) and not cfg.api_key:
        print("medmllm serve: warning: listening beyond this machine without --api-key", file=sys.stderr, flush=True)
    server.run(sockets=[sock])
    if failed:
        raise MedMLLMError(f"{cfg.model}: {failed[0]}" if str(cfg.model) not in failed[0] else failed[0])


def _bind(host: str, port: int) -> socket.socket:
    from ..errors import MedMLLMError

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        raise MedMLLMError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
