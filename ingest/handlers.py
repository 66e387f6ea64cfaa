"""HTTP handlers of the native write API."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from logriver.core.errors import LogriverError, ValidationError
from logriver.core.metrics_web import METRICS
from logriver.core.params import label_filters, wants_refresh
from logriver.core.rejections import Rejection
from logriver.core.settings import Settings
from logriver.core.web import SETTINGS, json_response, principal, read_body, read_json, stream_body
from logriver.ingest.registry import StreamRegistry
from logriver.ingest.schemas import LineIn, load_delete_params, load_stream, parse_lines_body, validate_lines
from logriver.ingest.typedbody import typed_lines
from logriver.ingest.writer import LineWriter, request_digest

WRITER = web.AppKey("line_writer", LineWriter)
REGISTRY = web.AppKey("stream_registry", StreamRegistry)


async def post_lines_handler(request: web.Request) -> web.Response:
    caller = principal(request, "write")
    settings = request.app[SETTINGS]
    body = await read_body(request, settings)
    received, valid, rejected = _validated(body, request.content_type, settings)
    counts = request.config_dict[METRICS].protocol("native")
    counts.received(received, len(body))
    counts.rejected(r.type for r in rejected)
    result = await request.app[WRITER].write_lines(
        caller.tenant, valid, request_digest(caller.tenant, body), refresh=wants_refresh(request.query)
    )
    counts.rejected(r.type for r in result.rejected)
    rejections = sorted(rejected + result.rejected, key=lambda r: r.index)
    return json_response({"accepted": result.accepted, "rejected": [r.as_dict() for r in rejections]})


def _validated(
    body: bytes, content_type: str, settings: Settings
) -> tuple[int, list[tuple[int, LineIn]], list[Rejection]]:
    """(lines received, accepted, rejected): the compiled decoder when it takes the body, else the general path."""
    typed = typed_lines(body, content_type, settings)
    if typed is not None:
        return typed
    items, shared_labels, parse_rejections = parse_lines_body(body, content_type)
    valid, rejected = validate_lines(items, shared_labels, settings)
    return len(items), valid, parse_rejections + rejected


async def put_stream_handler(request: web.Request) -> web.Response:
    caller = principal(request, "write")
    stream = load_stream(await read_json(request))
    sid, created = await request.app[REGISTRY].put_stream(caller.tenant, stream["labels"], stream["metadata"])
    body = {"stream": {"id": sid, "labels": stream["labels"], "metadata": stream["metadata"]}}
    return json_response(body, 201 if created else 200)


async def delete_lines_handler(request: web.Request) -> web.StreamResponse:
    caller = principal(request, "admin")
    params = load_delete_params(request.query)
    labels = label_filters(request.query.items())
    if not labels:
        raise ValidationError(
            "name the lines to delete with at least one labels.<key>=<value> filter",
            {"parameter": "labels.<key>"},
        )
    progress = request.app[REGISTRY].delete_lines(
        caller.tenant, labels, start_ns=params["start"], end_ns=params["end"], text=params["q"]
    )
    first = await anext(progress)  # storage errors before any output still get a proper status
    return await stream_body(request, _ndjson_progress(first, progress), "application/x-ndjson", coalesce=False)


async def _ndjson_progress(
    first: dict[str, Any], progress: AsyncIterator[dict[str, Any]]
) -> AsyncGenerator[bytes, None]:
    yield orjson.dumps(first) + b"\n"
    try:
        async for update in progress:
            yield orjson.dumps(update) + b"\n"
    except LogriverError as exc:
        yield orjson.dumps({"status": "failed", "error": {"type": exc.type, "message": exc.message}}) + b"\n"


def add_write_routes(app: web.Application, writer: LineWriter, registry: StreamRegistry) -> None:
    """The write path's routes, relative to the native API's prefix, over the given services."""
    app[WRITER] = writer
    app[REGISTRY] = registry
    app.router.add_post("/lines", post_lines_handler)
    app.router.add_put("/streams", put_stream_handler)
    app.router.add_delete("/lines", delete_lines_handler)
