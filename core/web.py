"""HTTP plumbing every API family shares: app keys, auth, JSON responses and the error middleware."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from logriver.core.admission import Admission, Reservation
from logriver.core.auth import Principal, TokenStore, authenticate
from logriver.core.body import check_content_encoding, decoded_chunks
from logriver.core.errors import LogriverError, request_too_large
from logriver.core.headers import check_header_text
from logriver.core.jsonload import load_json
from logriver.core.settings import Settings

log = logging.getLogger("logriver.http")

SETTINGS = web.AppKey("settings", Settings)
TOKENS = web.AppKey("tokens", TokenStore)
ADMISSION = web.AppKey("admission", Admission)
RESERVATION = web.RequestKey("reservation", Reservation)  # admitted bytes, set by admission_middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# An API family renders errors in its own envelope: (error, request) -> response.
ErrorRenderer = Callable[[LogriverError, web.Request], web.StreamResponse]


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def native_error_response(error: LogriverError, request: web.Request) -> web.Response:
    body = {"error": {"type": error.type, "message": error.message, "details": error.details}}
    return json_response(body, error.status, retry_headers(error, request))


def retry_headers(error: LogriverError, request: web.Request) -> dict[str, str]:
    """`Retry-After` for answers that ask the client to come back; for the foreign envelopes too."""
    if error.status in (429, 503, 504):
        return {"Retry-After": str(request.app[SETTINGS].retry_after_seconds)}
    return {}


def family_app(settings: Settings, tokens: TokenStore, renderer: ErrorRenderer) -> web.Application:
    """One API family's application: every error under its routes, unknown paths included, in its envelope."""
    app = web.Application(middlewares=[error_middleware(renderer)], client_max_size=settings.max_request_bytes + 1)
    app[SETTINGS] = settings
    app[TOKENS] = tokens
    return app


def error_middleware(renderer: ErrorRenderer) -> Middleware:
    """The single place where exceptions become responses, in one family's envelope; 5xx never shows internals."""

    @web.middleware
    async def render_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            check_header_text(request.headers)
            return await handler(request)
        except LogriverError as error:
            if error.status >= 500 and error.status not in (503, 504):
                error = _internal(error)
            elif error.status >= 500:
                log.warning("%s %s: %s (%s)", request.method, request.path, error.message, error.__cause__)
            return renderer(error, request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return renderer(_http_error(exc), request)
        except Exception as exc:
            return renderer(_internal(exc), request)

    return render_errors


def _http_error(exc: web.HTTPException) -> LogriverError:
    """aiohttp's own refusals (no route, wrong method, body too large) as API errors."""
    details: dict[str, Any] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        details["allowed_methods"] = sorted(exc.allowed_methods)
    error = LogriverError(exc.reason, details, type=_snake(exc.reason))
    error.status = exc.status
    return error


WORKER_HEADER = "Logriver-Worker"


async def add_worker_header(request: web.Request, response: web.StreamResponse) -> None:
    """Name the process that answered: behind a load balancer, logs and benches can tell workers apart."""
    response.headers[WORKER_HEADER] = f"{_HOST}:{os.getpid()}"  # the pid at answer time, not at import


_HOST = socket.gethostname()


def _internal(exc: BaseException) -> LogriverError:
    error_id = uuid.uuid4().hex[:16]
    log.error("internal error %s", error_id, exc_info=exc)
    error = LogriverError(f"internal error; quote id {error_id} when reporting it", {"error_id": error_id})
    return error


def _snake(reason: str) -> str:
    return "_".join(reason.lower().replace("-", " ").split()) or "http_error"


def principal(request: web.Request, role: str) -> Principal:
    """Authenticate the caller and check one role; raises 401/403."""
    caller = authenticate(request.app[TOKENS], request.headers)
    caller.require(role)
    return caller


@web.middleware
async def admission_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give back the bytes `read_body` admitted once the response is done, whatever happened."""
    reservation = Reservation()
    request[RESERVATION] = reservation
    try:
        return await handler(request)
    finally:
        await request.config_dict[ADMISSION].release(reservation)


async def read_body(
    request: web.Request, settings: Settings, passthrough_encodings: frozenset[str] = frozenset()
) -> bytes:
    """Read the decoded body within the request limit and the in-flight budget (429 past it).

    The declared length is admitted before anything is read, so a refused request costs no
    memory; bytes beyond it (chunked or inflated bodies) are admitted as they arrive. A coding
    in `passthrough_encodings` (Loki's snappy) reaches the caller still encoded, for it to decode.
    """
    coding = check_content_encoding(request.headers.get("Content-Encoding", ""), passthrough_encodings)
    declared = request.content_length
    if declared is not None and declared > settings.max_request_bytes:
        raise request_too_large(settings.max_request_bytes)
    admission, reservation = request.config_dict[ADMISSION], request[RESERVATION]
    await admission.reserve(reservation, declared or 0)
    chunks: list[bytes] = []
    size = 0
    async with aclosing(decoded_chunks(request, coding, settings.max_request_bytes)) as body:
        async for chunk in body:
            size += len(chunk)
            if size > settings.max_request_bytes:
                raise request_too_large(settings.max_request_bytes)
            if size > reservation.size:
                await admission.reserve(reservation, size - reservation.size)
            chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request) -> Any:
    """A JSON body (None when empty), or a 400 that says why it is not one."""
    raw = await read_body(request, request.app[SETTINGS])
    return load_json(raw) if raw.strip() else None


FLUSH_BYTES = 64 * 1024


async def stream_body(
    request: web.Request, chunks: AsyncGenerator[bytes, None], content_type: str, *, coalesce: bool = True
) -> web.StreamResponse:
    """Send `chunks` as a chunked body, coalesced into writes of about FLUSH_BYTES unless told not to.

    Callers fetch their first results before calling this, so that a storage error still gets
    its proper status; once the status line is out, a failure can only cut the body short,
    which a chunked response signals by closing the connection before the final chunk.
    """
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)
    pending: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            pending.append(chunk)
            size += len(chunk)
            if size >= FLUSH_BYTES or not coalesce:
                await response.write(b"".join(pending))
                pending, size = [], 0
        if pending:
            await response.write(b"".join(pending))
    except LogriverError as error:
        log.warning("%s %s: body cut short: %s (%s)", request.method, request.path, error.message, error.__cause__)
        _abort(request)
        return response
    except ConnectionResetError:
        return response  # the client went away; nothing left to tell it
    finally:
        await chunks.aclose()
    await response.write_eof()
    return response


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()
