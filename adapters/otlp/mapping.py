"""OTLP log records as lines: which resource attributes label a stream, where everything else goes.

The mapping (docs/otlp.md): resource attributes named by LOGRIVER_OTLP_LABEL_ATTRIBUTES become
labels (dots and other characters outside `[A-Za-z0-9_]` as `_`, so `service.name` is the label
`service_name`); every other attribute and the record's own data go into `fields`, with their
types. A string body is the message; any other body is kept in `fields.body` and its JSON text
is the message.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from logriver.core import rejections as reasons
from logriver.core.rejections import Rejection
from logriver.core.settings import Settings
from logriver.core.timeutil import format_rfc3339_ns
from logriver.ingest.schemas import LineIn

SERVICE_NAME = "service.name"
UNKNOWN_SERVICE = "unknown_service"  # the label of records whose resource names no service, as Loki does
_NOT_LABEL_CHARACTER = re.compile(r"[^A-Za-z0-9_]")
# proto3 JSON's names for the doubles JSON numbers cannot hold.
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
TRACE_ID_BYTES, SPAN_ID_BYTES = 16, 8


@dataclass(frozen=True)
class OtlpMapping:
    """Resource attribute -> label name, for the attributes that identify a stream."""

    label_names: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> OtlpMapping:
        names = [name.strip() for name in settings.otlp_label_attributes.split(",") if name.strip()]
        return cls({name: label_name(name) for name in names})


def label_name(attribute: str) -> str:
    """`service.name` -> `service_name`: label names keep to Prometheus' characters."""
    return _NOT_LABEL_CHARACTER.sub("_", attribute)


def request_to_lines(
    request: ExportLogsServiceRequest, mapping: OtlpMapping, received_ns: int
) -> list[LineIn | Rejection]:
    """Every record of the request, in order: a line, or why it cannot be one."""
    out: list[LineIn | Rejection] = []
    for resource_logs in request.resource_logs:
        labels, resource = resource_labels(resource_logs.resource.attributes, mapping)
        shared: dict[str, Any] = {"resource": resource} if resource else {}
        for scope_logs in resource_logs.scope_logs:
            scope = scope_fields(scope_logs.scope)
            shared_here = {**shared, "scope": scope} if scope else shared
            for record in scope_logs.log_records:
                out.append(record_to_line(len(out), record, labels, shared_here, received_ns))
    return out


def resource_labels(attributes: Iterable[KeyValue], mapping: OtlpMapping) -> tuple[dict[str, str], dict[str, Any]]:
    """(labels, the other resource attributes) of one resource."""
    labels: dict[str, str] = {}
    others: dict[str, Any] = {}
    for attribute in attributes:
        value = any_value(attribute.value)
        name = mapping.label_names.get(attribute.key)
        if name is None:
            others[attribute.key] = value
        else:
            labels[name] = value if isinstance(value, str) else orjson.dumps(value).decode()
    if SERVICE_NAME in mapping.label_names:
        labels.setdefault(mapping.label_names[SERVICE_NAME], UNKNOWN_SERVICE)
    return labels, others


def scope_fields(scope: InstrumentationScope) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if scope.name:
        fields["name"] = scope.name
    if scope.version:
        fields["version"] = scope.version
    if scope.attributes:
        fields["attributes"] = attribute_map(scope.attributes)
    if scope.dropped_attributes_count:
        fields["dropped_attributes_count"] = scope.dropped_attributes_count
    return fields


def record_to_line(
    position: int, record: LogRecord, labels: dict[str, str], shared: dict[str, Any], received_ns: int
) -> LineIn | Rejection:
    """One record as a line; `shared` holds its resource's and scope's fields."""
    if len(record.trace_id) not in (0, TRACE_ID_BYTES):
        return reasons.INVALID_TRACE_ID.at(position, name="trace_id", size=TRACE_ID_BYTES, got=len(record.trace_id))
    if len(record.span_id) not in (0, SPAN_ID_BYTES):
        return reasons.INVALID_TRACE_ID.at(position, name="span_id", size=SPAN_ID_BYTES, got=len(record.span_id))
    fields = dict(shared)
    message = ""
    if record.HasField("body"):
        if record.body.WhichOneof("value") == "string_value":
            message = record.body.string_value
        else:
            fields["body"] = any_value(record.body)
            message = orjson.dumps(fields["body"]).decode()
    _record_fields(record, fields)
    timestamp = record.time_unix_nano or record.observed_time_unix_nano or received_ns
    return LineIn(timestamp, message, labels, None, fields or None, None)


def _record_fields(record: LogRecord, fields: dict[str, Any]) -> None:
    if record.attributes:
        fields["attributes"] = attribute_map(record.attributes)
    if record.severity_number:
        fields["severity_number"] = record.severity_number
    if record.severity_text:
        fields["severity_text"] = record.severity_text
    if record.trace_id:
        fields["trace_id"] = record.trace_id.hex()
    if record.span_id:
        fields["span_id"] = record.span_id.hex()
    if record.flags:
        fields["flags"] = record.flags
    if record.observed_time_unix_nano:
        fields["observed_timestamp"] = format_rfc3339_ns(record.observed_time_unix_nano)
    if record.event_name:
        fields["event_name"] = record.event_name
    if record.dropped_attributes_count:
        fields["dropped_attributes_count"] = record.dropped_attributes_count


def attribute_map(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    return {attribute.key: any_value(attribute.value) for attribute in attributes}


def any_value(value: AnyValue) -> Any:
    """An AnyValue as JSON: bytes as base64 text, doubles JSON cannot hold as proto3 JSON names them."""
    kind = value.WhichOneof("value")
    if kind in ("string_value", "int_value", "bool_value"):
        return getattr(value, kind)
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else _NON_FINITE.get(number, "NaN")
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attribute_map(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None
