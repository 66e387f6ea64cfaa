"""Scale "Job Execution Log": a job execution's lines as JSON, text or HTML, streamed whole.

A job execution's lines are those labelled `job_exe_id=<id>`; label `stream` says stdout or
stderr, labels `scale_task`, `scale_node`, `scale_job_exe` describe where they came from, and
order_num is Scale's `scale_order_num`. Errors are `{"detail": ...}` as Django REST framework
renders them; the checks run in its order: content negotiation, authentication, the view.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from logriver.core.auth import Principal
from logriver.core.errors import BadRequestError, ForbiddenError, LogriverError, NotFoundError, UnauthorizedError
from logriver.core.timeutil import (
    MIN_STORABLE_NS,
    NS_PER_SECOND,
    TimestampError,
    format_rfc3339_ns,
    now_ns,
    parse_rfc3339_ns,
)
from logriver.core.web import family_app, json_response, principal, retry_headers, stream_body
from logriver.query.reader import Line, LineQuery
from logriver.services import SERVICES, Services

LOG_STREAMS = {"combined": None, "stdout": "stdout", "stderr": "stderr"}  # log_id -> `stream` label
# Formats in the server's order of preference, each with the media type it answers.
FORMATS = {"json": "application/json", "txt": "text/plain", "html": "text/html"}
CONTENT_TYPES = {"json": "application/json", "txt": "text/plain; charset=utf-8", "html": "text/html; charset=utf-8"}
READ_BATCH = 1000  # lines per storage round trip: what one response holds in memory
NOT_FOUND = "Not found."

_JOB_EXE_ID = re.compile(r"[0-9]+")
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(rf"P(?:{_NUMBER}W)?(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?")
_DURATION_SECONDS = (7 * 86400, 86400, 3600, 60, 1)


class NotAcceptableError(LogriverError):
    status = 406
    type = "not_acceptable"


def scale_error(error: LogriverError, request: web.Request) -> web.Response:
    """Django REST framework's error envelope."""
    return json_response({"detail": error.message}, error.status, retry_headers(error, request))


def negotiate(format_param: str | None, accept: str) -> str:
    """The response format: `?format=` wins, else the Accept header, else JSON."""
    if format_param:
        if format_param not in FORMATS:
            raise NotFoundError(NOT_FOUND)
        return format_param
    ranges = _accept_ranges(accept)
    if not ranges:
        return "json"
    best, best_q = None, 0.0
    for name, media in FORMATS.items():
        q = _quality(media, ranges)
        if q > best_q:  # ties keep the server's preference
            best, best_q = name, q
    if best is None:
        raise NotAcceptableError("Could not satisfy the request Accept header.")
    return best


def _accept_ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each media range of an Accept header."""
    ranges = []
    for part in accept.split(","):
        media, *params = part.split(";")
        main, slash, sub = media.strip().lower().partition("/")
        if not slash:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((main, sub.strip(), q))
    return ranges


def _quality(media: str, ranges: list[tuple[str, str, float]]) -> float:
    """The q of the most specific range that matches `media` (RFC 9110 12.5.1)."""
    main, _, sub = media.partition("/")
    best_specificity, q = -1, 0.0
    for range_main, range_sub, range_q in ranges:
        if (range_main, range_sub) == (main, sub):
            specificity = 2
        elif range_main == main and range_sub == "*":
            specificity = 1
        elif (range_main, range_sub) == ("*", "*"):
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, q = specificity, range_q
    return q


def parse_scale_time(name: str, value: str, now: int) -> int:
    """ISO-8601 with a zone, or an ISO-8601 duration meaning that long before `now`; in ns."""
    text = value.strip()
    match = _DURATION.fullmatch(text.upper())
    if match and any(match.groups()) and not text.upper().endswith("T"):
        seconds = sum(
            float(g.replace(",", ".")) * unit for g, unit in zip(match.groups(), _DURATION_SECONDS, strict=False) if g
        )
        # A duration reaching past the epoch (or too long for a float) means "from the start".
        before_epoch = not math.isfinite(seconds) or seconds * NS_PER_SECOND >= now - MIN_STORABLE_NS
        return MIN_STORABLE_NS if before_epoch else now - int(seconds * NS_PER_SECOND)
    try:
        return parse_rfc3339_ns(text)
    except TimestampError:
        raise BadRequestError(f"Invalid ISO timestamp format for parameter: {name}") from None


def _caller(request: web.Request) -> Principal:
    # Scale authenticates by session first, so every authentication failure is a 403.
    try:
        return principal(request, "read")
    except UnauthorizedError as error:
        missing = error.type != "invalid_credentials"
        raise ForbiddenError("Authentication credentials were not provided." if missing else "Invalid token.") from None
    except ForbiddenError:
        raise ForbiddenError("You do not have permission to perform this action.") from None


def _scale_task(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() else value


def scale_line(line: Line) -> dict[str, Any]:
    """A line as Scale's job execution log shows it."""
    labels = line.labels
    return {
        "message": line.message,
        "@timestamp": format_rfc3339_ns(line.timestamp_ns),
        "scale_order_num": line.order_num,
        "scale_task": _scale_task(labels.get("scale_task")),
        "scale_job_exe": labels.get("scale_job_exe"),
        "scale_node": labels.get("scale_node"),
        "stream": labels.get("stream"),
    }


async def json_body(first: Line, rest: AsyncIterator[Line]) -> AsyncGenerator[bytes, None]:
    yield b"[" + orjson.dumps(scale_line(first))
    async for line in rest:
        yield b"," + orjson.dumps(scale_line(line))
    yield b"]"


async def text_body(first: Line, rest: AsyncIterator[Line]) -> AsyncGenerator[bytes, None]:
    yield first.message.encode()
    async for line in rest:
        yield b"\n" + line.message.encode()


HTML_START = b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Job execution log</title></head><body>\n'


async def html_body(first: Line, rest: AsyncIterator[Line]) -> AsyncGenerator[bytes, None]:
    yield HTML_START + _html_div(first)
    async for line in rest:
        yield _html_div(line)
    yield b"</body></html>\n"


def _html_div(line: Line) -> bytes:
    css_class = "stderr" if line.labels.get("stream") == "stderr" else "stdout"
    return f'<div class="{css_class}">{html.escape(line.message)}</div>\n'.encode()


BODIES = {"json": json_body, "txt": text_body, "html": html_body}


def log_query(request: web.Request, tenant: str) -> LineQuery:
    """The lines of the requested job execution log, within [started, ended)."""
    job_exe_id, log_id = request.match_info["job_exe_id"], request.match_info["log_id"]
    if not _JOB_EXE_ID.fullmatch(job_exe_id) or log_id not in LOG_STREAMS:
        raise NotFoundError(NOT_FOUND)
    labels = {"job_exe_id": job_exe_id}
    stream = LOG_STREAMS[log_id]
    if stream is not None:
        labels["stream"] = stream
    now = now_ns()
    window = {
        name: parse_scale_time(name, request.query[name], now) if name in request.query else None
        for name in ("started", "ended")
    }
    return LineQuery(tenant, labels, window["started"], window["ended"])


async def job_exe_log_handler(request: web.Request) -> web.StreamResponse:
    fmt = negotiate(request.query.get("format"), request.headers.get("Accept", ""))
    caller = _caller(request)
    lines = request.app[SERVICES].reader.iter_lines(log_query(request, caller.tenant), "asc", batch=READ_BATCH)
    first = await anext(lines, None)  # storage errors before the status line keep their status
    if first is None:
        return web.Response(status=204)
    return await stream_body(request, BODIES[fmt](first, lines), CONTENT_TYPES[fmt])


def scale_apps(services: Services) -> dict[str, web.Application]:
    """The job execution log route of Scale's v6 and v7 APIs, one application per version prefix."""
    apps = {}
    for version in ("/v6", "/v7"):
        app = family_app(services.settings, services.tokens, scale_error)
        app[SERVICES] = services
        app.router.add_get("/job-executions/{job_exe_id}/logs/{log_id}/", job_exe_log_handler)
        apps[version] = app
    return apps
