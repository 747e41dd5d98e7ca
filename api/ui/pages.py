"""Rendering the server-side HTML pages of `/ui` and `/d/*` (Jinja2, autoescaped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

#: no third-party anything; forms post only here; decision-link tokens never leak by Referer
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=dict(HEADERS)
    )
    return response


def message(
    request: Request, status_code: int, title: str, text: str, **context: Any
) -> HTMLResponse:
    """A page that only says something (decided, expired, not valid, ...)."""
    return page(request, "message.html", status_code, title=title, text=text, **context)
