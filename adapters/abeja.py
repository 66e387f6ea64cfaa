"""ABEJA Platform Run API logs: a run's lines, oldest first or as newest-first recent pages.

A run is the stream labelled exactly `organization_id`, `deployment_id` and `run_id` in the
caller's tenant, which must be the organization. Paging is the native page service's: tokens
are signed cursors bound to the run and the window, so a token only works for the query it
came from; `/recentlogs` tokens follow the CloudWatch convention (always present, and an
empty page's tokens still lead on, so the forward token later yields the lines written since).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from marshmallow import EXCLUDE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError

from logriver.core.errors import ForbiddenError, InvalidTokenError, LogriverError, NotFoundError
from logriver.core.streams import stream_id
from logriver.core.timeutil import MAX_STORABLE_NS, NS_PER_SECOND, TimestampError, parse_rfc3339_ns
from logriver.core.web import SETTINGS, family_app, json_response, principal, retry_headers
from logriver.query.cursor import Direction
from logriver.query.pages import PageService
from logriver.query.reader import Line, LineQuery
from logriver.query.schemas import load_params
from logriver.services import SERVICES, Services

ABEJA_PREFIX = "/organizations"
RUN_ROUTE = "/{organization_id}/deployments/{deployment_id}/runs/{run_id}"  # under ABEJA_PREFIX
MAX_LIMIT = 1000
_FRACTION = re.compile(r"\d{2}:\d{2}:\d{2}[.,](\d+)")
# Bounds past the end of Elasticsearch's date_nanos range mean "no bound" rather than an error.

_SHORT_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    429: "too_many_requests",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def abeja_error_response(error: LogriverError, request: web.Request) -> web.Response:
    """ABEJA's envelope: `{"error": <short>, "error_description": <text>}`."""
    body = {"error": _SHORT_ERRORS.get(error.status, "internal_server_error"), "error_description": error.message}
    headers = retry_headers(error, request)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="logriver", Basic realm="logriver"'
    return json_response(body, error.status, headers)


class TimeBound(fields.Field[tuple[int, int]]):
    """`YYYY-MM-DDTHH:MM:SS[.f]` (UTC) or RFC 3339, as (nanoseconds, span of its last digit)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[int, int]:
        text = str(value).strip()
        try:
            ns = parse_rfc3339_ns(text)
        except TimestampError:
            try:
                ns = parse_rfc3339_ns(text + "Z")
            except TimestampError:
                raise SchemaError(
                    "use YYYY-MM-DDTHH:MM:SS (UTC) or RFC 3339 such as 2024-05-01T12:00:00.5+09:00"
                ) from None
        fraction = _FRACTION.search(text)
        digits = min(len(fraction.group(1)), 9) if fraction else 0
        return ns, 10 ** (9 - digits)


class RunWindowSchema(Schema):
    """Parameters both routes take; empty values were dropped before loading."""

    class Meta:
        unknown = EXCLUDE

    start_time = TimeBound(load_default=None)
    end_time = TimeBound(load_default=None)
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_LIMIT))

    @validates_schema
    def _window_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("start_time"), data.get("end_time")
        if start is not None and end is not None and start[0] > end[0]:
            raise SchemaError("start_time must not be after end_time (both are inclusive)", "end_time")


class LogsSchema(RunWindowSchema):
    next_token = fields.String(load_default=None)


class RecentLogsSchema(RunWindowSchema):
    next_forward_token = fields.String(load_default=None)
    next_backward_token = fields.String(load_default=None)

    @validates_schema
    def _one_token(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("next_forward_token") is not None and data.get("next_backward_token") is not None:
            raise SchemaError("send next_forward_token or next_backward_token, not both", "next_forward_token")


@dataclass(frozen=True)
class RunRequest:
    """A validated request for one run's lines."""

    tenant: str
    labels: dict[str, str]
    params: dict[str, Any]
    query: LineQuery


def run_query(tenant: str, labels: dict[str, str], params: dict[str, Any]) -> LineQuery:
    """The run's lines within the inclusive window; an end given in seconds covers that whole second."""
    start, end = params["start_time"], params["end_time"]
    return LineQuery(
        tenant=tenant,
        stream_id=stream_id(tenant, labels),
        start_ns=None if start is None else min(max(start[0], 0), MAX_STORABLE_NS),
        end_ns=None if end is None else min(max(end[0] + end[1], 0), MAX_STORABLE_NS),
    )


def check_token(pages: PageService, query: LineQuery, token: str | None, direction: Direction, name: str) -> None:
    """Reject a token of another query or of the other direction before any storage call."""
    if token is None:
        return
    cursor = pages.codec.decode(token, pages.fingerprint(query))
    if cursor.direction != direction:
        raise InvalidTokenError(f"this token does not page {direction} lines; it cannot be sent as {name}")


def format_abeja_time(ns: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ`, microseconds truncated from the stored nanoseconds."""
    seconds, nanos = divmod(ns, NS_PER_SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1000:06d}Z"


def render_event(line: Line) -> dict[str, str]:
    return {"message": line.message, "timestamp": format_abeja_time(line.timestamp_ns)}


def prepare(request: web.Request, schema: Schema) -> RunRequest:
    """Authorize the caller for the organization, then load the parameters."""
    caller = principal(request, "read")
    labels = {name: request.match_info[name] for name in ("organization_id", "deployment_id", "run_id")}
    if caller.tenant != labels["organization_id"]:
        raise ForbiddenError(f"this token does not belong to organization {labels['organization_id']}")
    params = load_params(schema, {k: v for k, v in request.query.items() if v != ""})
    params["limit"] = params["limit"] or request.app[SETTINGS].abeja_page_size
    return RunRequest(caller.tenant, labels, params, run_query(caller.tenant, labels, params))


async def require_run(request: web.Request, run: RunRequest) -> None:
    """404 unless the run's stream exists (written to, or created with PUT /api/v1/streams)."""
    if await request.app[SERVICES].streams.get(run.tenant, run.labels) is None:
        raise NotFoundError(f"run {run.labels['run_id']} of deployment {run.labels['deployment_id']} does not exist")


async def logs_handler(request: web.Request) -> web.Response:
    """`GET .../runs/{run_id}/logs`: oldest first; `next_token` exactly when more lines follow."""
    run = prepare(request, LogsSchema())
    pages, token = request.app[SERVICES].pages, run.params["next_token"]
    check_token(pages, run.query, token, "newer", "next_token")
    await require_run(request, run)
    page = await pages.page(run.query, run.params["limit"], "head", token)
    body: dict[str, Any] = {"events": [render_event(line) for line in page.lines]}
    if page.has_more_newer:
        body["next_token"] = pages.codec.encode(page.newer)
    return json_response(body)


async def recent_logs_handler(request: web.Request) -> web.Response:
    """`GET .../runs/{run_id}/recentlogs`: newest-first pages with both tokens always present."""
    run = prepare(request, RecentLogsSchema())
    pages = request.app[SERVICES].pages
    forward, backward = run.params["next_forward_token"], run.params["next_backward_token"]
    check_token(pages, run.query, forward, "newer", "next_forward_token")
    check_token(pages, run.query, backward, "older", "next_backward_token")
    await require_run(request, run)
    page = await pages.page(run.query, run.params["limit"], "tail", forward or backward)
    return json_response(
        {
            "events": [render_event(line) for line in reversed(page.lines)],
            "next_backward_token": pages.codec.encode(page.older),
            "next_forward_token": pages.codec.encode(page.newer),
        }
    )


def abeja_app(services: Services) -> web.Application:
    """The ABEJA run log routes, under ABEJA_PREFIX."""
    app = family_app(services.settings, services.tokens, abeja_error_response)
    app[SERVICES] = services
    app.router.add_get(RUN_ROUTE + "/logs", logs_handler)
    app.router.add_get(RUN_ROUTE + "/recentlogs", recent_logs_handler)
    return app
