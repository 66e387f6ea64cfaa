"""Huawei ModelArts "Obtaining Service Event Logs": a service's events are the lines of one stream.

The stream is the one labelled exactly `project_id` and `service_id` in the caller's tenant,
which must be the project. `event_info` is the message (the
`event_info` filter keeps the events whose message contains it, both lower-cased by Python's
`str.lower`, checked exactly in query/reader.py), `occur_time` the timestamp in epoch
milliseconds, `event_type` comes from the line's `fields.event_type` ("abnormal" there, else
"normal"), and the service name is the stream's `display_name` metadata.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import EXCLUDE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError

from logriver.core.errors import LogriverError
from logriver.core.streams import StreamInfo
from logriver.core.timeutil import MAX_INT64, MAX_STORABLE_NS, NS_PER_MS
from logriver.core.web import family_app, json_response, principal, retry_headers
from logriver.query.reader import Line, LineQuery
from logriver.query.schemas import load_params
from logriver.services import SERVICES, Services

MODELARTS_PREFIX = "/v1"
EVENTS_ROUTE = "/{project_id}/services/{service_id}/events"  # under MODELARTS_PREFIX
MAX_LIMIT = 1000
MAX_INT32 = 2**31 - 1
# Elasticsearch's date_nanos ends in 2262; a later bound means "no bound" rather than an error.
ABNORMAL = "abnormal"
# `normal` is every event not marked abnormal, so the filter agrees with what the list shows.
NOT_ABNORMAL_QUERY = f"NOT fields.event_type:{ABNORMAL}"

# error.type -> (error_code, fixed error_msg or None to keep the error's own message)
_CODES_BY_TYPE: dict[str, tuple[str, str | None]] = {
    "unauthorized": ("ModelArts.0201", "Token doesn't exist."),
    "invalid_credentials": ("ModelArts.0203", "Token is invalid."),
    "forbidden": ("ModelArts.0204", None),
}
_CODES_BY_STATUS: dict[int, str] = {400: "ModelArts.0101", 404: "ModelArts.3502"}
FALLBACK_CODE = "ModelArts.0001"


class ModelArtsError(LogriverError):
    """An error whose ModelArts code is chosen where it is raised."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message, {"error_code": code}, type="modelarts_error")
        self.status = status
        self.code = code


def modelarts_error_response(error: LogriverError, request: web.Request) -> web.Response:
    """ModelArts' envelope: `{"error_code", "error_msg"}` with the same HTTP status."""
    if isinstance(error, ModelArtsError):
        code, message = error.code, error.message
    else:
        code, fixed = _CODES_BY_TYPE.get(error.type, (_CODES_BY_STATUS.get(error.status, FALLBACK_CODE), None))
        message = fixed or error.message
    return json_response({"error_code": code, "error_msg": message}, error.status, retry_headers(error, request))


class EventsSchema(Schema):
    """Query parameters of the events route; empty values were dropped before loading."""

    class Meta:
        unknown = EXCLUDE

    event_type = fields.String(load_default=None, validate=validate.OneOf(["normal", ABNORMAL]))
    event_info = fields.String(load_default=None)
    start_time = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_INT64))
    end_time = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_INT64))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_INT32))
    limit = fields.Integer(load_default=MAX_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    sort_by = fields.String(load_default="occur_time", validate=validate.OneOf(["occur_time"]))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))

    @validates_schema
    def _window_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("start_time"), data.get("end_time")
        if start is not None and end is not None and start > end:
            raise SchemaError("start_time must not be after end_time (both are inclusive)", "end_time")


async def events_handler(request: web.Request) -> web.Response:
    """`GET /v1/{project_id}/services/{service_id}/events`."""
    caller = principal(request, "read")
    project_id, service_id = request.match_info["project_id"], request.match_info["service_id"]
    if caller.tenant != project_id:
        raise ModelArtsError(400, "ModelArts.0210", "Invalid project ID.")
    params = load_params(EventsSchema(), {k: v for k, v in request.query.items() if v != ""})
    stream = await request.app[SERVICES].streams.get(
        caller.tenant, {"project_id": project_id, "service_id": service_id}
    )
    if stream is None:
        raise ModelArtsError(404, "ModelArts.3502", f"Service {service_id} does not exist.")
    query = event_query(caller.tenant, stream.stream_id, params)
    total, lines = await request.app[SERVICES].reader.page_at(query, params["order"], params["offset"], params["limit"])
    return json_response(
        {
            "service_name": service_name(stream, service_id),
            "total_count": total,
            "service_id": service_id,
            "count": len(lines),
            "events": [render_event(line) for line in lines],
        }
    )


def event_query(tenant: str, sid: str, params: dict[str, Any]) -> LineQuery:
    """The stream's lines narrowed by type, text and the inclusive millisecond window."""
    start, end = params["start_time"], params["end_time"]
    event_type = params["event_type"]
    return LineQuery(
        tenant=tenant,
        stream_id=sid,
        start_ns=None if start is None else min(start * NS_PER_MS, MAX_STORABLE_NS),
        # end_time is inclusive of its whole millisecond; LineQuery's end is exclusive.
        end_ns=None if end is None else min((end + 1) * NS_PER_MS, MAX_STORABLE_NS),
        text=NOT_ABNORMAL_QUERY if event_type == "normal" else None,
        contains=params["event_info"],
        fields={"event_type": ABNORMAL} if event_type == ABNORMAL else {},
    )


def service_name(stream: StreamInfo, service_id: str) -> str:
    name = stream.metadata.get("display_name")
    return name if isinstance(name, str) and name else service_id


def render_event(line: Line) -> dict[str, Any]:
    event_type = ABNORMAL if line.fields.get("event_type") == ABNORMAL else "normal"
    return {"event_type": event_type, "event_info": line.message, "occur_time": line.timestamp_ns // NS_PER_MS}


def modelarts_app(services: Services) -> web.Application:
    """The ModelArts events route, under MODELARTS_PREFIX."""
    app = family_app(services.settings, services.tokens, modelarts_error_response)
    app[SERVICES] = services
    app.router.add_get(EVENTS_ROUTE, events_handler)
    return app
