"""Composes the write path, the read path and the foreign APIs into one aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from logriver.adapters.abeja import setup_abeja
from logriver.adapters.iceprod import setup_iceprod
from logriver.adapters.modelarts import setup_modelarts
from logriver.adapters.scale import setup_scale
from logriver.core.auth import TokenStore
from logriver.core.settings import Settings
from logriver.core.storage import Storage
from logriver.core.web import SETTINGS, STORAGE, TOKENS, error_middleware, json_response
from logriver.ingest.escompat import setup_escompat
from logriver.ingest.handlers import setup_ingest
from logriver.ingest.retention import run_retention
from logriver.openapi import setup_openapi
from logriver.query.handlers import setup_query
from logriver.query.tail_handlers import setup_tail

# Extra route families (foreign APIs, compatibility surfaces) register themselves here.
AppExtension = Callable[[web.Application], None]
EXTENSIONS: list[AppExtension] = [setup_modelarts, setup_abeja, setup_iceprod, setup_scale, setup_tail, setup_escompat]


async def healthz_handler(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz_handler(request: web.Request) -> web.Response:
    storage = request.app[STORAGE]
    if storage.ready:
        return json_response({"status": "ready"})
    return json_response(
        {"status": "not_ready", "reason": "storage unreachable or templates not installed"},
        503,
        {"Retry-After": str(request.app[SETTINGS].retry_after_seconds)},
    )


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    storage = app[STORAGE]
    await storage.check()  # ready at once when Elasticsearch is up; else the watcher recovers
    tasks = [asyncio.create_task(storage.watch_readiness()), asyncio.create_task(run_retention(storage))]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await storage.close()


def create_app(settings: Settings, tokens: TokenStore, es_url: str) -> web.Application:
    """The whole service; storage is opened on start-up and closed on clean-up."""
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_request_bytes + 1)
    app[SETTINGS] = settings
    app[TOKENS] = tokens
    app[STORAGE] = Storage.from_settings(settings, es_url)
    app.cleanup_ctx.append(storage_ctx)
    app.router.add_get("/healthz", healthz_handler)
    app.router.add_get("/readyz", readyz_handler)
    setup_ingest(app)
    setup_query(app)
    setup_openapi(app)
    for extension in EXTENSIONS:
        extension(app)
    return app
