"""Loki's push API, `POST /loki/api/v1/push`: 204 on success, Loki's statuses and plain-text errors.

The tenant is the token's. `X-Scope-OrgID`, Loki's tenant header, is accepted when it is absent or
names that same tenant, so agents configured for a multi-tenant Loki keep working unchanged.
"""

from __future__ import annotations

from aiohttp import web

from logriver.adapters.loki.push import JSON, PROTOBUF, decode_json, decode_protobuf, entries_to_lines, snappy_block
from logriver.core.errors import BadRequestError, ForbiddenError, LogriverError
from logriver.core.web import ADMISSION, RESERVATION, SETTINGS, family_app, principal, read_body, retry_headers
from logriver.ingest.intake import IntakeResult
from logriver.ingest.writer import request_digest
from logriver.services import SERVICES, Services

# The push family owns this one path: the rest of `/loki/api/v1` (Loki's query API) may be another
# family's, and the router tries the longer prefix first.
PUSH_PREFIX = "/loki/api/v1/push"
ORG_HEADER = "X-Scope-OrgID"
SNAPPY = frozenset({"snappy"})
FIRST_REASONS = 3


class UnsupportedMediaTypeError(LogriverError):
    status = 415
    type = "unsupported_media_type"


class EntriesRefusedError(BadRequestError):
    """Some entries were refused; the others are stored (Loki answers such a push 400 as well)."""

    type = "entries_refused"


async def push_handler(request: web.Request) -> web.Response:
    caller = principal(request, "write")
    _check_org_id(request, caller.tenant)
    settings = request.app[SETTINGS]
    is_json = _is_json(request.content_type)
    body = await read_body(request, settings, SNAPPY)
    # Protobuf pushes are snappy blocks whatever the headers say; `Content-Encoding: snappy` names the same.
    if not is_json or request.headers.get("Content-Encoding", "").strip().lower() == "snappy":
        body = snappy_block(body, settings.max_request_bytes)
        await _admit_inflated(request, len(body))
    entries = decode_json(body) if is_json else decode_protobuf(body)
    candidates = entries_to_lines(entries)
    digest = request_digest(caller.tenant, body)  # a push sent again stores nothing twice
    result = await request.app[SERVICES].intake.write("loki", caller.tenant, candidates, digest, len(body))
    if result.rejected:
        raise EntriesRefusedError(_refusals(result))
    return web.Response(status=204)


def _is_json(content_type: str) -> bool:
    if content_type == JSON:
        return True
    if content_type in (PROTOBUF, "application/octet-stream"):
        return False
    raise UnsupportedMediaTypeError(
        f"unsupported Content-Type {content_type!r}: send {PROTOBUF} (snappy-compressed) or {JSON}"
    )


def _check_org_id(request: web.Request, tenant: str) -> None:
    org = request.headers.get(ORG_HEADER)
    if org is not None and org.strip() != tenant:
        raise ForbiddenError(
            f"{ORG_HEADER} {org[:100]!r} is not the tenant of this token ({tenant!r}): "
            f"leave the header out, or send the token's own tenant"
        )


async def _admit_inflated(request: web.Request, size: int) -> None:
    """An inflated snappy body counts against the in-flight budget like an inflated gzip one."""
    reservation = request[RESERVATION]
    if size > reservation.size:
        await request.config_dict[ADMISSION].reserve(reservation, size - reservation.size)


def _refusals(result: IntakeResult) -> str:
    first = "; ".join(f"entry {r.index}: {r.type}: {r.message}" for r in result.rejected[:FIRST_REASONS])
    return f"{first}; total ignored: {len(result.rejected)} out of {result.received}"


def loki_error_response(error: LogriverError, request: web.Request) -> web.Response:
    """Loki's errors: the status and a line of plain text."""
    return web.Response(text=error.message + "\n", status=error.status, headers=retry_headers(error, request))


def loki_push_app(services: Services) -> web.Application:
    app = family_app(services.settings, services.tokens, loki_error_response)
    app[SERVICES] = services
    app.router.add_post("", push_handler)
    return app
