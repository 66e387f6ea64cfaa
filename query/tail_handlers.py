"""`GET /api/v1/tail`: new lines as Server-Sent Events, with the filters of `GET /api/v1/lines`.

Events, in order: `open` (id = start position), unnamed events whose data is a line as
`GET /api/v1/lines` returns it (id = resume position), `dropped` ({"dropped": N}) when the
client read too slowly, `: keep-alive` comments, and one `end` ({"reason", "position"},
id = resume position) before the server closes the stream. Reconnecting with `Last-Event-ID`
(or `last_event_id=`) resumes after the last line received; `since=10m` starts a fresh tail
with the lines accepted in the last ten minutes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from aiohttp import web
from marshmallow import fields, validate

from logriver.core.fields import DurationField
from logriver.core.web import principal
from logriver.query.arrivals import POSITION_PATTERN
from logriver.query.schemas import WindowSchema, line_query, load_params
from logriver.query.tail import Dropped, Ended, Heartbeat, Opened, TailEvent, TailHub, TailLine

TAIL_HUB = web.AppKey("tail_hub", TailHub)

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx would otherwise hold events back in its buffer
}
RETRY_MS = 1000  # how soon EventSource reconnects after the stream ends


class TailSchema(WindowSchema):
    last_event_id = fields.String(
        load_default=None,
        validate=validate.Regexp(POSITION_PATTERN, error="must be an event id exactly as the tail sent it"),
    )
    # Where a fresh tail starts: the lines accepted in this last span, then new ones. A resume
    # (Last-Event-ID) wins, so a reconnecting EventSource with `since` in its URL does not repeat lines.
    since = DurationField(load_default=None)


async def tail_handler(request: web.Request) -> web.StreamResponse:
    caller = principal(request, "read")
    params = load_params(TailSchema(), _params_with_last_event_id(request))
    query = line_query(caller.tenant, request.query, params)
    hub = request.app[TAIL_HUB]
    subscription = hub.subscribe(query, params["last_event_id"], since_ns=params["since"])
    response = web.StreamResponse(headers=SSE_HEADERS)
    try:
        await response.prepare(request)
        async with contextlib.aclosing(subscription.events()) as events:
            await _send(response, events)
    except ConnectionResetError:
        pass  # the client went away; nothing to tell it
    finally:
        hub.unsubscribe(subscription)
    return response


def _params_with_last_event_id(request: web.Request) -> Mapping[str, str]:
    # EventSource resends the id as a header; a URL parameter serves clients that cannot set one.
    params = dict(request.query)
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:
        params["last_event_id"] = header
    return params


async def _send(response: web.StreamResponse, events: AsyncIterator[TailEvent]) -> None:
    async for event in events:
        await response.write(render_event(event))
    await response.write_eof()


def render_event(event: TailEvent) -> bytes:
    """One event in the text/event-stream format (JSON data is always one line)."""
    if isinstance(event, TailLine):
        return _frame(None, event.position, event.line.as_dict())
    if isinstance(event, Heartbeat):
        return b": keep-alive\n\n"
    if isinstance(event, Dropped):
        return _frame("dropped", None, {"dropped": event.count})
    if isinstance(event, Opened):
        return f"retry: {RETRY_MS}\n".encode() + _frame("open", event.position, {"position": event.position})
    return _frame("end", event.position, _end_data(event))


def _end_data(event: Ended) -> dict[str, Any]:
    data: dict[str, Any] = {"reason": event.reason, "position": event.position}
    if event.error is not None:
        data["error"] = {"type": event.error.type, "message": event.error.message}
    return data


def _frame(name: str | None, event_id: str | None, data: Any) -> bytes:
    head = b""
    if event_id is not None:
        head += b"id: " + event_id.encode() + b"\n"
    if name is not None:
        head += b"event: " + name.encode() + b"\n"
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def add_tail_routes(app: web.Application, hub: TailHub) -> None:
    """The tail route, relative to the native API's prefix; the hub's life cycle is its owner's."""
    app[TAIL_HUB] = hub
    app.router.add_get("/tail", tail_handler)
