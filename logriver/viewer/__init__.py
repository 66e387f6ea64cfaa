"""The log viewer: a static single-page app at `/` that calls only the public native API."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/viewer"
# The page loads nothing from elsewhere and runs no inline script; this keeps it that way.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


async def index_handler(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


def setup_viewer(app: web.Application) -> None:
    """Serve the page at `/` and its modules under `/viewer/`, unless `/` is already taken."""
    # The Elasticsearch-compatible surface mounted at the root (a shippers-only logriver) owns `/`.
    if any(resource.canonical == "/" for resource in app.router.resources()):
        return
    app.router.add_get("/", index_handler)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, append_version=False)
