"""The operators' page at `/`: static HTML, CSS and JavaScript served by the service itself (no front-end
build step, no outside host). It holds no data; it calls the API with the token the operator enters."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).with_name("static")
HEADERS = {
    # Only this service's own script and style; nothing framed, nothing sniffed.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
FILES = {
    "/": ("operator.html", "text/html; charset=utf-8"),
    "/operator.js": ("operator.js", "text/javascript; charset=utf-8"),
    "/operator.css": ("operator.css", "text/css; charset=utf-8"),
}


def _serve(name: str, media_type: str) -> Response:
    return Response((STATIC / name).read_bytes(), media_type=media_type, headers=HEADERS)


@router.get("/")
async def operator_page() -> Response:
    return _serve(*FILES["/"])


@router.get("/operator.js")
async def operator_script() -> Response:
    return _serve(*FILES["/operator.js"])


@router.get("/operator.css")
async def operator_style() -> Response:
    return _serve(*FILES["/operator.css"])
