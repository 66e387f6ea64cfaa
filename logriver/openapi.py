"""The native API described as OpenAPI 3.1, generated from the schemas the handlers validate with."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from logriver.core.fields import DurationField, TimestampField
from logriver.ingest.schemas import DeleteLinesSchema, LineSchema, StreamSchema, WrappedBodySchema
from logriver.query.schemas import ContextSchema, LinesSchema, SearchSchema, StreamsSchema
from logriver.query.tail_handlers import TailSchema

SPEC = web.AppKey("openapi_spec", dict)
JSON = "application/json"
ERROR_STATUSES = {
    "400": "Invalid input: the message names the parameter or field and the limit",
    "401": "No credentials, or an unknown token",
    "403": "The token lacks the role this route needs",
    "413": "The (decompressed) body is larger than LOGRIVER_MAX_REQUEST_BYTES",
    "415": "A Content-Encoding the service does not decode",
    "429": "Storage pushed back; retry after Retry-After seconds",
    "500": "A fault of the service; the message holds an id found in its log",
    "503": "Storage is unreachable or not ready; retry after Retry-After seconds",
    "504": "Storage did not answer in time; retry after Retry-After seconds",
}


# One server-sent event: `data` is JSON text (a line, or the open/dropped/end notice), `id` a position.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "data": {"type": "string", "contentMediaType": "application/json"},
        "event": {"type": "string", "enum": ["open", "dropped", "end"]},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}


class ErrorBodySchema(Schema):
    type = fields.String(required=True, metadata={"description": "stable snake_case reason, e.g. invalid_query"})
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class LineOutSchema(Schema):
    id = fields.String(required=True)
    timestamp = fields.String(required=True, data_key="@timestamp", metadata={"format": "date-time"})
    order_num = fields.Integer(required=True)
    message = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    fields_ = fields.Dict(required=True, data_key="fields")
    stream_id = fields.String(required=True)
    highlight = fields.List(fields.String(), metadata={"description": "search only: message fragments"})


class PageSchema(Schema):
    lines = fields.List(fields.Nested(LineOutSchema), required=True)
    older_token = fields.String(required=True, allow_none=True)
    newer_token = fields.String(required=True, allow_none=True)
    has_more_older = fields.Boolean(required=True)
    has_more_newer = fields.Boolean(required=True)


class ContextPageSchema(PageSchema):
    stream_id = fields.String(required=True)


class TotalSchema(Schema):
    value = fields.Integer(required=True)
    relation = fields.String(required=True, metadata={"enum": ["eq", "gte"]})


class BucketSchema(Schema):
    start = fields.String(required=True, metadata={"format": "date-time"})
    count = fields.Integer(required=True)


class SearchResultSchema(Schema):
    hits = fields.List(fields.Nested(LineOutSchema), required=True)
    total = fields.Nested(TotalSchema, required=True)
    next_token = fields.String(required=True, allow_none=True)
    histogram = fields.List(fields.Nested(BucketSchema), metadata={"description": "present when interval is given"})


class StreamOutSchema(Schema):
    id = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    metadata = fields.Dict(required=True)
    first_timestamp = fields.String(required=True, allow_none=True)
    last_timestamp = fields.String(required=True, allow_none=True)
    lines = fields.Integer(required=True)


class StreamListSchema(Schema):
    streams = fields.List(fields.Nested(StreamOutSchema), required=True)
    next_token = fields.String(
        required=True, allow_none=True, metadata={"description": "the next page's token; null on the last page"}
    )


class PutStreamOutSchema(Schema):
    stream = fields.Dict(required=True, metadata={"description": "id, labels and metadata of the stream"})


class RejectionSchema(Schema):
    index = fields.Integer(required=True)
    type = fields.String(required=True)
    message = fields.String(required=True)


class WriteResultSchema(Schema):
    accepted = fields.Integer(required=True)
    rejected = fields.List(fields.Nested(RejectionSchema), required=True)


class StatusSchema(Schema):
    status = fields.String(required=True)
    reason = fields.String()


class RefreshSchema(Schema):
    refresh = fields.String(metadata={"enum": ["true", "false", "wait_for", ""]})


def _json(schema: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: str) -> dict[str, Any]:
    chosen = statuses or tuple(ERROR_STATUSES)
    return {status: _json(ErrorSchema, ERROR_STATUSES[status]) for status in chosen}


def _get(params: type[Schema] | None, response: Any, summary: str, by_id: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": _json(response, "OK"), **_errors()}}
    parameters = [{"in": "query", "schema": params}] if params is not None else []
    if by_id:
        parameters.append({"in": "path", "name": "line_id", "required": True, "schema": {"type": "string"}})
        operation["responses"]["404"] = _json(ErrorSchema, "No line with this id")
    operation["parameters"] = parameters
    operation["security"] = [{"bearer": []}]
    return operation


def _paths() -> dict[str, dict[str, Any]]:
    line_body = {"oneOf": [{"type": "array", "items": LineSchema}, WrappedBodySchema]}
    ndjson = {"type": "string", "description": "one JSON document per line"}
    return {
        "/api/v1/lines": {
            "post": {
                "summary": "Write lines; each is accepted or rejected on its own",
                "parameters": [{"in": "query", "schema": RefreshSchema}],
                "requestBody": {"required": True, "content": {JSON: {"schema": line_body}}},
                "responses": {"200": _json(WriteResultSchema, "Per-line outcome"), **_errors()},
                "security": [{"bearer": []}],
            },
            "get": _get(LinesSchema, PageSchema, "A page of lines, filtered by labels.<key>=<value>"),
            "delete": {
                "summary": "Delete the lines named by labels.<key>=<value> filters, narrowed by start, end and q",
                "parameters": [{"in": "query", "schema": DeleteLinesSchema}],
                "responses": {
                    "200": {"description": "Progress", "content": {"application/x-ndjson": {"schema": ndjson}}},
                    **_errors(),
                },
                "security": [{"bearer": []}],
            },
        },
        "/api/v1/lines/{line_id}": {"get": _get(None, LineOutSchema, "One line by id", by_id=True)},
        "/api/v1/lines/{line_id}/context": {
            "get": _get(ContextSchema, ContextPageSchema, "Lines around one line", by_id=True)
        },
        "/api/v1/search": {"get": _get(SearchSchema, SearchResultSchema, "Search with q, totals and histogram")},
        "/api/v1/streams": {
            "get": _get(StreamsSchema, StreamListSchema, "Streams matching labels.<key>=<value> filters"),
            "put": {
                "summary": "Register a stream or replace its metadata",
                "requestBody": {"required": True, "content": {JSON: {"schema": StreamSchema}}},
                "responses": {
                    "200": _json(PutStreamOutSchema, "Metadata replaced"),
                    "201": _json(PutStreamOutSchema, "Stream created"),
                    **_errors(),
                },
                "security": [{"bearer": []}],
            },
        },
        "/api/v1/tail": {
            "get": {
                "summary": "Server-sent events: lines as they arrive",
                "parameters": [{"in": "query", "schema": TailSchema}],
                "responses": {
                    "200": {"description": "Events", "content": {"text/event-stream": {"schema": SSE_EVENT}}},
                    **_errors(),
                },
                "security": [{"bearer": []}],
            }
        },
        "/api/v1/openapi.json": {
            "get": {"summary": "This description", "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json(StatusSchema, "Alive")}}},
        "/readyz": {
            "get": {
                "summary": "Readiness: storage reachable and templates installed",
                "responses": {"200": _json(StatusSchema, "Ready"), "503": _json(StatusSchema, "Not ready")},
            }
        },
    }


def build_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the native API."""
    plugin = MarshmallowPlugin()
    spec = APISpec("logriver native API", "1", "3.1.0", plugins=[plugin])
    plugin.map_to_openapi_type(TimestampField, fields.Raw)  # type: ignore[no-untyped-call]  # RFC 3339 or epoch ms
    plugin.map_to_openapi_type(DurationField, fields.String)  # type: ignore[no-untyped-call]  # 30s, 10m, 2h
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for path, operations in _paths().items():
        spec.path(path, operations=operations)
    return spec.to_dict()


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(request.app[SPEC])


def setup_openapi(app: web.Application) -> None:
    app[SPEC] = build_spec()
    app.router.add_get("/openapi.json", openapi_handler)  # under the native family's /api/v1
