"""The native API family: the write path's and the read path's routes under `/api/v1`."""

from __future__ import annotations

from aiohttp import web

from logriver.core.web import family_app, native_error_response
from logriver.ingest.handlers import add_write_routes
from logriver.query.handlers import add_read_routes
from logriver.query.tail_handlers import add_tail_routes
from logriver.services import SERVICES, Services

NATIVE_PREFIX = "/api/v1"


def native_app(services: Services) -> web.Application:
    """`/api/v1/...`, errors as `{"error": {"type", "message", "details"}}`."""
    app = family_app(services.settings, services.tokens, native_error_response)
    app[SERVICES] = services
    add_write_routes(app, services.writer, services.registry)
    add_read_routes(app, services.reader, services.pages, services.search, services.streams)
    add_tail_routes(app, services.tail_hub)
    return app
