"""OTLP/HTTP request bodies: protobuf or OTLP JSON into one ExportLogsServiceRequest.

OTLP JSON is proto3 JSON with three twists (opentelemetry-proto `docs/specification.md`): trace
and span ids are hex, not base64; enums are integers; unknown fields are ignored. The ids are
turned into base64 before the protobuf library's own JSON parser reads the rest.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from logriver.core.errors import BadRequestError, LogriverError
from logriver.core.jsonload import load_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id")


class UnsupportedMediaTypeError(LogriverError):
    status = 415
    type = "unsupported_media_type"


class UndecodableBodyError(BadRequestError):
    type = "invalid_body"


def encoding_of(content_type: str) -> str:
    """The body's encoding by Content-Type; 415 for anything but OTLP's two."""
    if content_type == PROTOBUF:
        return PROTOBUF
    if content_type == JSON:
        return JSON
    raise UnsupportedMediaTypeError(
        f"Content-Type {content_type or '(none)'!r} is not an OTLP encoding; send {PROTOBUF} or {JSON}",
        {"header": "Content-Type", "supported": [PROTOBUF, JSON]},
    )


def decode_request(body: bytes, encoding: str) -> tuple[ExportLogsServiceRequest, bytes]:
    """The request, and its canonical bytes (the identity of its records for replays)."""
    request = ExportLogsServiceRequest()
    if encoding == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise UndecodableBodyError(f"the body is not an ExportLogsServiceRequest in protobuf: {exc}") from None
        return request, body
    data = load_json(body) if body.strip() else {}
    if not isinstance(data, dict):
        raise UndecodableBodyError("the body must be a JSON object: an ExportLogsServiceRequest in OTLP JSON")
    _hex_ids_to_base64(data)
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError, AttributeError) as exc:
        raise UndecodableBodyError(f"the body is not an ExportLogsServiceRequest in OTLP JSON: {exc}") from None
    return request, request.SerializeToString(deterministic=True)


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """Rewrite each log record's hex ids in place as the base64 the protobuf JSON parser expects."""
    for resource_logs in _objects(data.get("resourceLogs", data.get("resource_logs"))):
        for scope_logs in _objects(resource_logs.get("scopeLogs", resource_logs.get("scope_logs"))):
            for record in _objects(scope_logs.get("logRecords", scope_logs.get("log_records"))):
                for key in _ID_KEYS:
                    if key in record:
                        record[key] = _hex_to_base64(key, record[key])


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _hex_to_base64(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise UndecodableBodyError(f"`{key}` must be a hex string, got {type(value).__name__}")
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except (ValueError, binascii.Error):
        raise UndecodableBodyError(f"`{key}` must be a hex string, got {value[:40]!r}") from None
