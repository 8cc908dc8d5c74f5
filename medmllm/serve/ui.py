"""The page at `/`: upload a file, see it, ask about it. It talks to the same API as any client.

    GET  /                     static/index.html (open, as the page holds no data)
    GET  /static/<name>        its script and style sheet
    POST /v1/medmllm/preview   a file as the page shows it (`preview.py`); key-protected like the API

The page is plain HTML, CSS and JavaScript, with nothing fetched from elsewhere (a content
security policy says so), no build step, and the API key kept in the page's memory only.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from . import preview
from .protocol import APIError, parse_json, read_body

STATIC = Path(__file__).with_name("static")
TYPES = {"app.js": "text/javascript; charset=utf-8", "zip.js": "text/javascript; charset=utf-8",
         "app.css": "text/css; charset=utf-8"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def add_page(app: FastAPI, state) -> None:
    cfg = state.cfg

    @app.get("/")
    async def page():
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html; charset=utf-8", headers=HEADERS)

    @app.get("/static/{name}")
    async def static(name: str):
        if name not in TYPES:
            raise APIError(404, "no such file")
        return Response((STATIC / name).read_bytes(), media_type=TYPES[name], headers=HEADERS)

    @app.post("/v1/medmllm/preview")
    async def preview_file(request: Request):
        state.check_key(request)
        state.ready()
        req = parse_json(await read_body(request, cfg.max_body_bytes), preview.PreviewRequest)
        async with state.decoding:  # shared with the chat endpoint: at most two files decoded at once
            body = await asyncio.to_thread(preview.render, req, cfg.max_unzipped_bytes)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})
