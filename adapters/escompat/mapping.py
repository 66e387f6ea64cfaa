"""Elasticsearch documents as logriver lines: which fields give the time, message, order and labels."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from logriver.core.params import int_or_none
from logriver.core.rejections import DOCUMENT_TIMESTAMP, LABEL_NOT_TEXT, ORDER_NUM_NOT_INTEGER, Reason
from logriver.core.settings import Settings
from logriver.core.timeutil import (
    MAX_STORABLE_NS,
    MIN_STORABLE_NS,
    NS_PER_MS,
    TimestampError,
    format_rfc3339_ns,
    parse_rfc3339_ns,
    parse_utc_fast,
)
from logriver.ingest.schemas import LineIn

_MISSING = object()

# Daily (or monthly, hourly) index names such as `logstash-2024.05.01`, `scalelogs-2024.05.01`,
# `syslog.2024.05.01`, `app_2024-05-01` or `app-20240501`: the part before the date names the stream.
_DATE_SUFFIX = re.compile(
    r"^(?P<stream>.+?)[-._](?P<year>\d{4})(?P<sep>[-._]?)(?P<month>\d{2})"
    r"(?:(?P=sep)(?P<day>\d{2})(?:(?P=sep)(?P<hour>\d{2}))?)?$"
)
# ES's strict_date_optional_time accepts times without a zone (read as UTC) and bare dates.
_NAIVE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?$")
_EPOCH_MILLIS = re.compile(r"^-?\d+(?:\.\d+)?$")


class MappingError(ValueError):
    """A document that cannot become a line, for one of the reasons in core.rejections."""

    def __init__(self, reason: Reason, **values: Any):
        self.type = reason.code
        self.message = reason.text(**values)
        super().__init__(self.message)


@dataclass(frozen=True)
class DocumentMapping:
    """The configured rules of the document → line mapping."""

    timestamp_field: str = "@timestamp"
    message_fields: tuple[str, ...] = ("message", "log", "msg")
    order_field: str | None = None
    label_fields: tuple[str, ...] = ()
    index_label: str | None = "index"

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentMapping:
        """The mapping named by the `es_compat_*` settings."""
        return cls(
            timestamp_field=settings.es_compat_timestamp_field or "@timestamp",
            message_fields=_names(settings.es_compat_message_fields),
            order_field=settings.es_compat_order_field.strip() or None,
            label_fields=_names(settings.es_compat_label_fields),
            index_label=settings.es_compat_index_label.strip() or None,
        )


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


@functools.lru_cache(maxsize=1024)  # once per document: a bulk request names a few indices
def index_stream_name(index: str) -> str:
    """The index name without a trailing date, so daily indices of one source form one stream."""
    match = _DATE_SUFFIX.match(index)
    if not match:
        return index
    month, day, hour = int(match["month"]), match["day"], match["hour"]
    if not 1 <= month <= 12 or (day and not 1 <= int(day) <= 31) or (hour and int(hour) > 23):
        return index
    return match["stream"]


def document_to_line(
    document: dict[str, Any], index: str, client_id: str | None, mapping: DocumentMapping, received_ns: int
) -> dict[str, Any]:
    """A raw native line (as `validate_lines` takes it); consumes the mapped fields of `document`."""
    return raw_line(document_line(document, index, client_id, mapping, received_ns))


def document_line(
    document: dict[str, Any], index: str, client_id: str | None, mapping: DocumentMapping, received_ns: int
) -> LineIn:
    """The document's parts as a line with its own labels, not yet checked against the write path's rules."""
    timestamp = _pop(document, mapping.timestamp_field)
    if timestamp is _MISSING or timestamp is None:
        timestamp_ns = received_ns
    else:
        timestamp_ns = parse_document_time(mapping.timestamp_field, timestamp)
        if not MIN_STORABLE_NS <= timestamp_ns <= MAX_STORABLE_NS:
            raise MappingError(
                DOCUMENT_TIMESTAMP,
                name=mapping.timestamp_field,
                problem="must be between 1970-01-01 and 2262-04-11 (nanosecond dates)",
            )
    message = _pop_message(document, mapping.message_fields)
    labels = _pop_labels(document, index, mapping)
    order_num = None
    if mapping.order_field:
        order = _pop(document, mapping.order_field)
        if order is not _MISSING and order is not None:
            order_num = _order_num(mapping.order_field, order)
    return LineIn(timestamp_ns, message, labels, order_num, document or None, client_id)


def raw_line(line: LineIn) -> dict[str, Any]:
    """A line spelt as the native API takes it, for the schema to check and word."""
    raw: dict[str, Any] = {
        "@timestamp": format_rfc3339_ns(line.timestamp_ns),
        "message": line.message,
        "labels": line.labels,
    }
    if line.order_num is not None:
        raw["order_num"] = line.order_num
    if line.fields:
        raw["fields"] = line.fields
    if line.client_id is not None:
        raw["id"] = line.client_id
    return raw


def parse_document_time(name: str, value: Any) -> int:
    """Nanoseconds from what Elasticsearch's default date format accepts: ISO 8601 or epoch millis."""
    try:
        if isinstance(value, bool):
            raise TimestampError("a timestamp cannot be a boolean")
        if isinstance(value, int):
            return value * NS_PER_MS
        if isinstance(value, float):
            return _millis_ns(repr(value))
        if isinstance(value, str):
            # The usual `…T12:00:00.123Z` directly: the lines below give it the same value.
            fast = parse_utc_fast(value)
            if fast is not None:
                return fast
            text = value.strip()
            return _millis_ns(text) if _EPOCH_MILLIS.match(text) else parse_rfc3339_ns(_with_zone(text))
        raise TimestampError(f"expected an ISO 8601 string or epoch milliseconds, got {type(value).__name__}")
    except TimestampError as exc:
        raise MappingError(DOCUMENT_TIMESTAMP, name=name, problem=exc) from None


def _millis_ns(text: str) -> int:
    # Decimal keeps fractional milliseconds exact (a float would round them at the ns level).
    try:
        return int(Decimal(text) * NS_PER_MS)
    except (InvalidOperation, OverflowError, ValueError):
        raise TimestampError(f"{text!r} is not a number of epoch milliseconds") from None


def _with_zone(text: str) -> str:
    if not _NAIVE_TIME.match(text):
        return text
    if len(text) == 10:
        return text + "T00:00:00Z"
    return text + (":00Z" if len(text) == 16 else "Z")


def _pop_message(document: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = _lookup(document, name)
        # Objects are not messages: Filebeat and Logstash send `log` as {"file": ..., "offset": ...}.
        if value is _MISSING or value is None or isinstance(value, (dict, list)):
            continue
        _pop(document, name)
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    return ""


def _pop_labels(document: dict[str, Any], index: str, mapping: DocumentMapping) -> dict[str, str]:
    labels = {mapping.index_label: index_stream_name(index)} if mapping.index_label else {}
    for name in mapping.label_fields:
        value = _pop(document, name)
        if value is _MISSING or value is None:
            continue
        if isinstance(value, (dict, list)):
            raise MappingError(LABEL_NOT_TEXT, name=name, kind=type(value).__name__)
        labels[name] = value if isinstance(value, str) else orjson.dumps(value).decode()
    return labels


def _order_num(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and int_or_none(value) is not None:
        value = int_or_none(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MappingError(ORDER_NUM_NOT_INTEGER, name=name, value=value)
    return value


def _pop(document: dict[str, Any], path: str) -> Any:
    """Remove and return a field named literally (`host.name`) or by a dotted path into objects."""
    chain = _locate(document, path)
    if chain is None:
        return _MISSING
    container, key = chain[-1]
    value = container.pop(key)
    for parent, name in reversed(chain[:-1]):
        if parent[name]:
            break
        del parent[name]  # an object emptied by the move would only clutter `fields`
    return value


def _lookup(document: dict[str, Any], path: str) -> Any:
    chain = _locate(document, path)
    if chain is None:
        return _MISSING
    container, key = chain[-1]
    return container[key]


def _locate(document: dict[str, Any], path: str) -> list[tuple[dict[str, Any], str]] | None:
    """The (object, key) steps down to a field; shippers send both `a.b` keys and nested objects."""
    if path in document:
        return [(document, path)]
    head, dot, rest = path.partition(".")
    while dot:
        child = document.get(head)
        if isinstance(child, dict):
            found = _locate(child, rest)
            if found:
                return [(document, head), *found]
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    return None
