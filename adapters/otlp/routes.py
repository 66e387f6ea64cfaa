"""OTLP/HTTP logs: `POST /otlp/v1/logs` (an exporter's endpoint base is `/otlp`) and `POST /v1/logs`.

Answers follow the protocol: 200 with an ExportLogsServiceResponse (refused records counted in
`partial_success`), and errors as a `google.rpc.Status`, both in the request's encoding. Overload
and storage loss are 503 with Retry-After, never 429: Python exporters before 1.3x retried only
408 and 5xx, and every reference exporter retries 503 (docs/otlp.md).
"""

from __future__ import annotations

import orjson
from aiohttp import web
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from logriver.adapters.otlp.decode import JSON, PROTOBUF, decode_request, encoding_of
from logriver.adapters.otlp.mapping import OtlpMapping, request_to_lines
from logriver.core.errors import LogriverError
from logriver.core.timeutil import now_ns
from logriver.core.web import SETTINGS, family_app, principal, read_body
from logriver.ingest.intake import IntakeResult
from logriver.ingest.writer import request_digest
from logriver.services import SERVICES, Services

OTLP_PREFIX = "/otlp"
LOGS_ROUTE = "/v1/logs"  # under OTLP_PREFIX, and at the root
MAPPING = web.AppKey("otlp_mapping", OtlpMapping)
FIRST_REASONS = 3  # refused records whose reasons `partial_success.error_message` quotes
# google.rpc.Code of each status this family answers.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 503: 14, 504: 4}


async def export_logs_handler(request: web.Request) -> web.Response:
    encoding = encoding_of(request.content_type)
    caller = principal(request, "write")
    body = await read_body(request, request.app[SETTINGS])  # gzip and deflate inflated
    export, canonical = decode_request(body, encoding)
    lines = request_to_lines(export, request.app[MAPPING], now_ns())
    # The canonical bytes identify the records: an export sent again stores nothing twice.
    digest = request_digest(caller.tenant, canonical)
    result = await request.app[SERVICES].intake.write("otlp", caller.tenant, lines, digest, len(body))
    return _message_response(export_response(result), encoding, 200)


def export_response(result: IntakeResult) -> ExportLogsServiceResponse:
    """The answer to an export; `partial_success` only when records were refused."""
    response = ExportLogsServiceResponse()
    if result.rejected:
        first = "; ".join(f"record {r.index}: {r.type}: {r.message}" for r in result.rejected[:FIRST_REASONS])
        more = f" (and {len(result.rejected) - FIRST_REASONS} more)" if len(result.rejected) > FIRST_REASONS else ""
        response.partial_success.rejected_log_records = len(result.rejected)
        response.partial_success.error_message = f"{len(result.rejected)} log records refused: {first}{more}"
    return response


def otlp_error_response(error: LogriverError, request: web.Request) -> web.Response:
    """A `google.rpc.Status` in the request's encoding; overload (429) is answered as 503."""
    status = 503 if error.status == 429 else error.status
    headers = {"Retry-After": str(request.app[SETTINGS].retry_after_seconds)} if status in (503, 504) else {}
    code = _GRPC_CODES.get(status, 13)  # INTERNAL for anything unexpected
    encoding = PROTOBUF if request.content_type == PROTOBUF else JSON
    body = _status_protobuf(code, error.message) if encoding == PROTOBUF else _status_json(code, error.message)
    return web.Response(body=body, status=status, content_type=encoding, headers=headers)


def _message_response(message: ExportLogsServiceResponse, encoding: str, status: int) -> web.Response:
    if encoding == PROTOBUF:
        body = message.SerializeToString()
    else:
        body = json_format.MessageToJson(message, indent=None).encode()
    return web.Response(body=body, status=status, content_type=encoding)


def _status_protobuf(code: int, message: str) -> bytes:
    """google.rpc.Status{code = 1, message = 2} in protobuf: two fields, written by hand."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _status_json(code: int, message: str) -> bytes:
    return orjson.dumps({"code": code, "message": message})


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def otlp_apps(services: Services) -> dict[str, web.Application]:
    """One application at `/otlp` and one at `/v1/logs`: the root's `/v1` belongs to ModelArts.

    Mounted at `/v1/logs`, the second one is matched before ModelArts' `/v1` (the router tries the
    longest prefix first), so only that path, and what lies under it, answers in OTLP's envelope.
    """
    prefixed, root = _otlp_app(services), _otlp_app(services)
    prefixed.router.add_post(LOGS_ROUTE, export_logs_handler)
    root.router.add_post("", export_logs_handler)
    return {OTLP_PREFIX: prefixed, LOGS_ROUTE: root}


def _otlp_app(services: Services) -> web.Application:
    app = family_app(services.settings, services.tokens, otlp_error_response)
    app[SERVICES] = services
    app[MAPPING] = OtlpMapping.from_settings(services.settings)
    return app
