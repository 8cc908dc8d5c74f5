"""The FastAPI app of `medmllm serve`: routes, key check, errors in OpenAI's shape, request logs.

Routes: `POST /v1/chat/completions`, `GET /v1/models`, `GET /metrics` (these need the key when one
is set), `GET /health` (open, as vLLM's: 200 when the model is loaded, 503 while it loads) and,
with the page on, `GET /`, what it loads, and `POST /v1/medmllm/preview` (`ui.py`). The model
loads in a thread after the port is bound, so `/health` answers at once; requests that need it
get 503 until it is there.

Logs are one line per request: its id, endpoint, status, bytes in and out, tokens and
milliseconds. Never a message, a file name, pixels or an exception's text: those can be patient
data. An unexpected exception is logged by its type and the place it came from, and answered
500 with the request id; the traceback goes nowhere.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
import traceback
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import MedMLLMError, brief
from ..version import __version__
from . import completions
from .batcher import Batcher
from .config import ServeConfig
from .metrics import CONTENT_TYPE, Metrics
from .protocol import APIError, ChatCompletionRequest, parse_json, read_body

log = logging.getLogger("medmllm.serve")
ENDPOINTS = ("/v1/chat/completions", "/v1/models", "/health", "/metrics", "/", "/v1/medmllm/preview")


class State:
    """What the routes share: the settings, the engine once loaded, its batcher and the metrics."""

    def __init__(self, cfg: ServeConfig, load: Callable, on_failure: Callable[[str], None] | None = None):
        self.cfg, self.load, self.on_failure = cfg, load, on_failure
        self.engine = self.batcher = None
        self.failed: str | None = None
        self.metrics = Metrics()
        self.context = 0
        self.decoding: asyncio.Semaphore | None = None

    def start(self) -> None:
        self.decoding = asyncio.Semaphore(2)
        threading.Thread(target=self._load, name="medmllm-load", daemon=True).start()

    def _load(self) -> None:
        start = time.monotonic()
        try:
            engine = self.load(self.cfg.model)
        except Exception as e:  # noqa: BLE001 - reported in one line, the server then stops
            self.failed = str(e) if isinstance(e, MedMLLMError) else f"{type(e).__name__}: {brief(e)}"
            log.error("cannot load the model: %s", self.failed)
            if self.on_failure:
                self.on_failure(self.failed)
            return
        text = engine.model.config.text_config
        self.context = int(getattr(text, "max_position_embeddings", 0) or 1 << 30)
        engine.threads = self.cfg.threads  # set by Engine.run in the worker thread, per `medmllm/threads.py`
        self.batcher = Batcher(engine, self.cfg.max_batch, self.cfg.batch_window_ms / 1000, self.cfg.max_queue,
                               self.metrics)
        self.engine = engine
        log.info("model %s ready in %.1f s", self.cfg.served_model_name, time.monotonic() - start)

    def ready(self) -> None:
        if self.engine is None:
            raise APIError(503, "the model failed to load" if self.failed else "the model is loading; retry shortly",
                           code="model_loading", headers={"Retry-After": "5"})

    def check_key(self, request: Request) -> None:
        key = self.cfg.api_key
        if not key:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise APIError(401, "missing or wrong API key (send the header Authorization: Bearer <key>)",
                           code="invalid_api_key")


def create_app(cfg: ServeConfig, load: Callable | None = None, on_failure: Callable[[str], None] | None = None):
    """The ASGI app (wrapped in the request guard). `load(folder) -> Engine` defaults to `Engine.from_pretrained`."""
    if load is None:
        from ..engine import Engine

        load = Engine.from_pretrained
    state = State(cfg, load, on_failure)

    @asynccontextmanager
    async def lifespan(app):
        state.start()
        yield
        if state.batcher is not None:
            state.batcher.close()

    app = FastAPI(title="medmllm", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.medmllm = state
    _errors(app)
    _routes(app, state)
    if cfg.ui:
        from .ui import add_page

        add_page(app, state)
    if cfg.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cfg.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    return Guard(app, state)


def _routes(app: FastAPI, state: State) -> None:
    cfg = state.cfg

    @app.get("/health")
    async def health():
        if state.engine is None:
            return JSONResponse({"status": "failed" if state.failed else "loading"}, status_code=503)
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models(request: Request):
        state.check_key(request)
        return {"object": "list", "data": [{"id": cfg.served_model_name, "object": "model", "created": 0,
                                            "owned_by": "medmllm"}]}

    @app.get("/metrics")
    async def metrics(request: Request):
        state.check_key(request)
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        state.check_key(request)
        state.ready()
        req = parse_json(await read_body(request, cfg.max_body_bytes), ChatCompletionRequest)
        if req.model and req.model != cfg.served_model_name:
            raise APIError(404, f"the model '{req.model}' does not exist; this server has '{cfg.served_model_name}'",
                           param="model", code="model_not_found")
        rows = await completions.prepare(req, state)
        job = completions.submit(req, rows, state.batcher)
        request.scope["medmllm.job"] = job
        if req.stream:
            return StreamingResponse(completions.stream(req, job, cfg.served_model_name, cfg.request_timeout),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        try:
            body = await completions.answer(req, job, cfg.served_model_name, cfg.request_timeout,
                                            request.is_disconnected)
        except completions.Disconnected:
            return Response(status_code=499)
        return JSONResponse(body)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError):
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        message = {404: "no such endpoint", 405: "method not allowed"}.get(e.status_code, "request failed")
        return JSONResponse(APIError(e.status_code, message).body(), status_code=e.status_code)

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception):
        rid = request.scope.get("medmllm.id", "?")
        return JSONResponse(APIError(500, f"internal error (request {rid})", code="internal_error").body(),
                            status_code=500)


class Guard:
    """Outermost ASGI layer: gives each request an id (`x-request-id`), logs one line for it, counts
    it in the metrics, and keeps any exception (and its text) out of the server's logs."""

    def __init__(self, app: FastAPI, state: State):
        self.app, self.state = app, state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = uuid.uuid4().hex[:16]
        scope["medmllm.id"] = rid
        path = scope.get("path", "")
        endpoint = path if path in ENDPOINTS else ("/static" if path.startswith("/static/") else "(other)")
        start, status, sizes = time.monotonic(), [0], [0, 0]

        async def counted_receive():
            message = await receive()
            sizes[0] += len(message.get("body", b""))
            return message

        async def tagged_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            elif message["type"] == "http.response.body":
                sizes[1] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counted_receive, tagged_send)
        except Exception as e:  # noqa: BLE001 - already answered 500 by the handler; log the type and place only
            frame = traceback.extract_tb(e.__traceback__)[-1]
            log.error("request=%s error=%s at %s:%d", rid, type(e).__name__, Path(frame.filename).name, frame.lineno)
        finally:
            seconds = time.monotonic() - start
            self.state.metrics.requests.labels(endpoint, str(status[0])).inc()
            extra = ""
            job = scope.get("medmllm.job")
            if job is not None:
                self.state.metrics.latency.observe(seconds)
                if job.future.done() and not job.future.cancelled() and job.future.exception() is None:
                    outs = job.future.result()
                    extra = f" n={len(outs)} prompt_tokens={outs[0].prompt_tokens} " \
                            f"completion_tokens={sum(o.completion_tokens for o in outs)}"
            log.info("request=%s %s %s status=%d in=%dB out=%dB%s ms=%.0f", rid, scope.get("method"), endpoint,
                     status[0], sizes[0], sizes[1], extra, seconds * 1000)
