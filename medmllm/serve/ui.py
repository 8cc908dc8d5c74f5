"""The page at `/`: upload a file, see it, ask about it (static/index.html talks to the same API)."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).with_name("static") / "index.html"


def add_page(app: FastAPI, state) -> None:
    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))
