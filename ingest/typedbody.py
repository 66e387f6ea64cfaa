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
from logriver.core.timeutil import TimestampError, now_ns, parse_timestamp_ns, parse_utc_fast
from logriver.ingest.fastpath import MAX_ORDER_NUM
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
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=512)] | None = None


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
    labels = RequestLabels(shared, settings)
    depth_left = MAX_JSON_DEPTH - _ENCLOSING[shape]
    accepted: list[tuple[int, LineIn]] = []
    rejected: list[Rejection] = []
    for index, line in enumerate(lines):
        extra = line.fields
        if extra is not None and not _flat_within(extra, depth_left):
            raise _Unusual
        own = LineIn(_timestamp_ns(line.timestamp), line.message, line.labels, line.order_num, extra or None, line.id)
        result = checked_line(index, own, labels, settings, window)
        if type(result) is LineIn:
            accepted.append((index, result))
        else:
            rejected.append(result)  # type: ignore[arg-type]  # checked_line gives a LineIn or a Rejection
    return accepted, rejected


def _timestamp_ns(value: str | int) -> int:
    fast = parse_utc_fast(value) if type(value) is str else None
    if fast is not None:
        return fast
    try:
        return parse_timestamp_ns(value)
    except TimestampError:
        raise _Unusual from None


def _flat_within(extra: dict[str, Any], depth_left: int) -> bool:
    # Most fields are flat: one scan of the values, no walk (a generator here cost more than this loop).
    for value in extra.values():
        if type(value) is dict or type(value) is list:
            return within_depth(extra, depth_left)
    return True
