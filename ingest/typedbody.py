"""The usual write body, decoded and type-checked in one compiled pass.

Decoding a body with orjson and then checking every line in Python (fast_load, LineSchema)
cost about 12 µs a line, more than Elasticsearch spends indexing it. msgspec decodes the
common body straight into typed lines in C, so only what no schema can say (timestamps to the
nanosecond, the limits of the settings) is left to Python.

The general path stays the authority: whenever this decoder does not take a body plainly (a
type it does not expect, an unknown or missing key, a timestamp it cannot read, a JSON text it
refuses, nesting near the depth limit), the caller sends the whole body there, and that path
decides and words the answer. Per-line limits are checked here by the same functions, so they
read the same. tests/ingest/test_typedbody.py holds both paths to the same result on generated
bodies.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from logriver.core.jsonload import MAX_JSON_DEPTH, within_depth
from logriver.core.rejections import Rejection
from logriver.core.settings import Settings
from logriver.core.timeutil import (
    MAX_STORABLE_NS,
    MIN_STORABLE_NS,
    now_ns,
)
from logriver.ingest.fastpath import MAX_CLIENT_ID_CHARS, MAX_ORDER_NUM, usual_timestamp_ns
from logriver.ingest.schemas import LineIn, RequestLabels, accepted_window, checked_line

# The two parsers differ only on integers outside [-2^63, 2^64): msgspec keeps them, orjson makes
# them floats. Stored fields must not depend on which path took a line, so a body with a number
# of 19 digits or more (or anything that looks like one) goes to the general path.
_LONG_NUMBER = re.compile(rb"[:,\[]\s*-?[0-9]{19}")


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    timestamp: str | int = msgspec.field(name="@timestamp")
    message: str
    labels: dict[str, str] = {}
    order_num: Annotated[int, msgspec.Meta(ge=0, le=MAX_ORDER_NUM)] | None = None
    fields: dict[str, Any] | None = None
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CLIENT_ID_CHARS)] | None = None


class _Wrapped(msgspec.Struct, forbid_unknown_fields=True):
    lines: list[_Line]
    labels: dict[str, str] = {}


_ARRAY = msgspec.json.Decoder(list[_Line])
_WRAPPED = msgspec.json.Decoder(_Wrapped)
_ONE_LINE = msgspec.json.Decoder(_Line)
# How many containers enclose a line's `fields` in each body shape (for the JSON depth bound).
_ENCLOSING = {"array": 2, "wrapped": 3, "ndjson": 1}


class _Unusual(Exception):
    """Something the general path must decide and word."""


def typed_lines(
    body: bytes, content_type: str, settings: Settings, now: int | None = None
) -> tuple[int, list[tuple[int, LineIn]], list[Rejection]] | None:
    """(lines received, accepted, rejected) as parse_lines_body + validate_lines give them, or None.

    None: the body is not plainly the usual shape; the general path answers it.
    """
    try:
        shape, lines, shared = _decode(body, content_type)
        accepted, rejected = _checked(lines, shared, shape, settings, now_ns() if now is None else now)
    except (_Unusual, msgspec.MsgspecError, ValueError, RecursionError):
        return None
    return len(lines), accepted, rejected


def _decode(body: bytes, content_type: str) -> tuple[str, list[_Line], dict[str, str]]:
    if _LONG_NUMBER.search(body):
        raise _Unusual
    if "ndjson" in content_type or "jsonl" in content_type:
        return "ndjson", [_ONE_LINE.decode(raw) for raw in body.splitlines() if raw.strip()], {}
    if body.lstrip()[:1] == b"[":
        return "array", _ARRAY.decode(body), {}
    wrapped = _WRAPPED.decode(body)
    return "wrapped", wrapped.lines, wrapped.labels


def _checked(
    lines: list[_Line], shared: dict[str, str], shape: str, settings: Settings, now: int
) -> tuple[list[tuple[int, LineIn]], list[Rejection]]:
    window = accepted_window(settings, now)
    plain = _PlainLimits(settings, window)
    labels = RequestLabels(shared, settings)
    depth_left = MAX_JSON_DEPTH - _ENCLOSING[shape]
    accepted: list[tuple[int, LineIn]] = []
    rejected: list[Rejection] = []
    for index, line in enumerate(lines):
        timestamp_ns, message, extra = _timestamp_ns(line.timestamp), line.message, line.fields or None
        flat = extra is None or _flat(extra)
        if not flat and not within_depth(extra, depth_left):
            raise _Unusual
        # A line far inside every limit is taken at once; any other goes through the checks in their order.
        if (
            flat
            and (extra is None or plain.flat_fields_pass)
            and len(message) <= plain.message_chars
            and plain.oldest_ns <= timestamp_ns <= plain.newest_ns
        ):
            merged = labels.merged(index, line.labels)
            if type(merged) is dict:
                accepted.append((index, LineIn(timestamp_ns, message, merged, line.order_num, extra, line.id)))
                continue
        own = LineIn(timestamp_ns, message, line.labels, line.order_num, extra, line.id)
        result = checked_line(index, own, labels, settings, window)
        if isinstance(result, Rejection):
            rejected.append(result)
        else:
            accepted.append((index, result))
    return accepted, rejected


class _PlainLimits:
    """Bounds inside which a line passes checked_line's message, fields and window checks."""

    def __init__(self, settings: Settings, window: tuple[int | None, int]) -> None:
        oldest, newest = window
        self.message_chars = settings.max_message_bytes // 4  # a character is at most 4 UTF-8 bytes
        self.oldest_ns = MIN_STORABLE_NS if oldest is None else max(oldest, MIN_STORABLE_NS)
        self.newest_ns = min(newest, MAX_STORABLE_NS)
        self.flat_fields_pass = settings.max_fields_depth >= 1


def _timestamp_ns(value: str | int) -> int:
    timestamp_ns = usual_timestamp_ns(value)
    if timestamp_ns is None:
        raise _Unusual
    return timestamp_ns


def _flat(extra: dict[str, Any]) -> bool:
    # One scan of the values (a generator here cost more than this loop).
    for value in extra.values():  # noqa: SIM110 - see above
        if type(value) is dict or type(value) is list:
            return False
    return True
