"""Request bodies of the write path: parsing, per-line validation and limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError

from logriver.core import rejections as reasons
from logriver.core.errors import BadRequestError, ValidationError
from logriver.core.fields import TimestampField
from logriver.core.jsonload import load_json
from logriver.core.params import refuse_unknown
from logriver.core.rejections import Rejection
from logriver.core.settings import Settings
from logriver.core.timeutil import MAX_STORABLE_NS, MIN_STORABLE_NS, NS_PER_SECOND, format_rfc3339_ns, now_ns
from logriver.ingest.fastpath import MAX_CLIENT_ID_CHARS, MAX_ORDER_NUM, fast_load


class LineIn(NamedTuple):
    """One validated line, ready for the writer (a tuple: made once per line on the hot path)."""

    timestamp_ns: int
    message: str
    labels: dict[str, str]
    order_num: int | None = None
    fields: dict[str, Any] | None = None
    client_id: str | None = None


class LineSchema(Schema):
    class Meta:
        unknown = RAISE

    timestamp_ns = TimestampField(required=True, data_key="@timestamp")
    message = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    order_num = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_ORDER_NUM), allow_none=True)
    extra_fields = fields.Dict(keys=fields.String(), allow_none=True, data_key="fields")
    client_id = fields.String(data_key="id", validate=validate.Length(min=1, max=MAX_CLIENT_ID_CHARS), allow_none=True)


def _must_be_list(value: Any) -> None:
    if not isinstance(value, list):
        raise SchemaError("must be a JSON array of lines")


class WrappedBodySchema(Schema):
    class Meta:
        unknown = RAISE

    labels = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    # Each line is validated on its own later; checking items here too would double the cost.
    lines = fields.Raw(required=True, validate=_must_be_list)


_LINE_SCHEMA = LineSchema()
_WRAPPED_SCHEMA = WrappedBodySchema()


# marshmallow reports per field; each field's failure gets a stable type clients can switch on.


def parse_lines_body(body: bytes, content_type: str) -> tuple[list[Any], dict[str, str], list[Rejection]]:
    """Split a body into raw line objects, shared labels, and NDJSON lines that failed to parse."""
    if "ndjson" in content_type or "jsonl" in content_type:
        items, rejections = _parse_ndjson(body)
        return items, {}, rejections
    data = load_json(body)
    if isinstance(data, list):
        return data, {}, []
    if isinstance(data, dict):
        try:
            wrapped = _WRAPPED_SCHEMA.load(data)
        except SchemaError as exc:
            raise ValidationError(
                'the body must be a JSON array of lines or {"labels": {...}, "lines": [...]}',
                {"errors": exc.messages},
            ) from None
        return wrapped["lines"], wrapped["labels"], []
    raise BadRequestError(
        "the body must be a JSON array of lines, NDJSON, or an object with `lines`", type="invalid_body"
    )


def _parse_ndjson(body: bytes) -> tuple[list[Any], list[Rejection]]:
    items: list[Any] = []
    rejections: list[Rejection] = []
    for raw_line in body.splitlines():
        if not raw_line.strip():
            continue
        try:
            items.append(load_json(raw_line, "this NDJSON line"))
        except BadRequestError as exc:
            rejections.append(Rejection(len(items), exc.type, exc.message))
            items.append(None)
    return items, rejections


def validate_lines(
    items: list[Any], shared_labels: dict[str, str], settings: Settings, now: int | None = None
) -> tuple[list[tuple[int, LineIn]], list[Rejection]]:
    """Validate each raw line on its own; good lines go on, bad ones are reported by index."""
    now = now_ns() if now is None else now
    window = accepted_window(settings, now)
    labels = RequestLabels(shared_labels, settings)
    accepted: list[tuple[int, LineIn]] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(items):
        if item is None:
            continue  # already rejected while parsing
        result = validate_line(index, item, labels, settings, window)
        if isinstance(result, Rejection):
            rejected.append(result)
        else:
            accepted.append((index, result))
    return accepted, rejected


class RequestLabels:
    """Each distinct labels object of a request, merged with the shared labels and checked once.

    A request holds a few streams and many lines; lines of one stream share the merged dict
    (never mutated downstream), which also lets the writer recognise the stream at once.
    """

    def __init__(self, shared: dict[str, str], settings: Settings) -> None:
        self.shared = shared
        self.settings = settings
        self._known: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], Rejection | None]] = {}

    def merged(self, index: int, own: dict[str, str]) -> dict[str, str] | Rejection:
        """The line's labels, or why they break a limit (for the line at `index`)."""
        key = tuple(own.items())
        known = self._known.get(key)
        if known is None:
            labels = {**self.shared, **own} if self.shared and own else (own or self.shared)
            known = self._known[key] = (labels, _label_limits(0, labels, self.settings))
        labels, problem = known
        return labels if problem is None else Rejection(index, problem.type, problem.message)


def accepted_window(settings: Settings, now: int) -> tuple[int | None, int]:
    oldest = now - settings.retention_days * 86400 * NS_PER_SECOND if settings.retention_days else None
    return oldest, now + settings.max_future_seconds * NS_PER_SECOND


def validate_line(
    index: int, item: Any, labels_of: RequestLabels, settings: Settings, window: tuple[int | None, int]
) -> LineIn | Rejection:
    if not isinstance(item, dict):
        return reasons.NOT_AN_OBJECT.at(index, kind=type(item).__name__)
    loaded = fast_load(item) or _schema_load(item)
    if isinstance(loaded, SchemaError):
        return _schema_rejection(index, loaded.messages)
    own = LineIn(
        loaded["timestamp_ns"],
        loaded["message"],
        loaded["labels"],
        loaded.get("order_num"),
        loaded.get("extra_fields") or None,
        loaded.get("client_id"),
    )
    return checked_line(index, own, labels_of, settings, window)


def checked_line(
    index: int, own: LineIn, labels_of: RequestLabels, settings: Settings, window: tuple[int | None, int]
) -> LineIn | Rejection:
    """A loaded line with its own labels, checked against the limits and given the request's merged labels."""
    # The order of check_limits: message, labels, fields, then the time window.
    timestamp_ns, message, labels, order_num, extra, client_id = own
    problem = _message_limit(index, message, settings)
    if problem is not None:
        return problem
    merged = labels_of.merged(index, labels)
    if isinstance(merged, Rejection):
        return merged
    return (
        _fields_limit(index, extra, settings)
        or check_window(index, timestamp_ns, window)
        or LineIn(timestamp_ns, message, merged, order_num, extra, client_id)
    )


def _schema_load(item: dict[str, Any]) -> dict[str, Any] | SchemaError:
    try:
        loaded: dict[str, Any] = _LINE_SCHEMA.load(item)
        return loaded
    except SchemaError as exc:
        return exc


def _schema_rejection(index: int, messages: Any) -> Rejection:
    if not isinstance(messages, dict):
        return reasons.INVALID_LINE.at(index, problem=messages)
    name, problems = next(iter(messages.items()))
    text = "; ".join(_flatten(problems))
    if "Missing data for required field." in text:
        return reasons.MISSING_FIELD.at(index, name=name)
    if "Unknown field." in text:
        return reasons.UNKNOWN_FIELD.at(index, name=name)
    return reasons.INVALID_FIELD.get(name, reasons.INVALID_OTHER_FIELD).at(index, name=name, problem=text)


def _flatten(problems: Any) -> list[str]:
    if isinstance(problems, dict):
        return [f"{k}: {m}" for k, v in problems.items() for m in _flatten(v)]
    if isinstance(problems, list):
        return [m for p in problems for m in _flatten(p)]
    return [str(problems)]


def check_limits(index: int, line: LineIn, settings: Settings) -> Rejection | None:
    """The per-line limits of the settings, each with a reason code that names the limit."""
    return (
        _message_limit(index, line.message, settings)
        or _label_limits(index, line.labels, settings)
        or _fields_limit(index, line.fields, settings)
    )


def _message_limit(index: int, message: str, settings: Settings) -> Rejection | None:
    # A character is at most 4 UTF-8 bytes: only long messages need encoding to be measured.
    if len(message) * 4 > settings.max_message_bytes:
        size = len(message.encode("utf-8", "surrogatepass"))
        if size > settings.max_message_bytes:
            return reasons.MESSAGE_TOO_LONG.at(index, size=size, limit=settings.max_message_bytes)
    return None


def _label_limits(index: int, labels: dict[str, str], settings: Settings) -> Rejection | None:
    if len(labels) > settings.max_labels:
        return reasons.TOO_MANY_LABELS.at(index, count=len(labels), limit=settings.max_labels)
    return _check_labels(index, labels, settings)


def _fields_limit(index: int, extra: dict[str, Any] | None, settings: Settings) -> Rejection | None:
    if extra and _depth(extra) > settings.max_fields_depth:
        return reasons.FIELDS_TOO_DEEP.at(index, limit=settings.max_fields_depth)
    return None


def _check_labels(index: int, labels: dict[str, str], settings: Settings) -> Rejection | None:
    for name, value in labels.items():
        if not name or len(name) > settings.max_label_name_length:
            return reasons.LABEL_NAME_TOO_LONG.at(index, name=name[:40], limit=settings.max_label_name_length)
        if "\x00" in name:
            return reasons.LABEL_NAME_NUL.at(index)
        if len(value) > settings.max_label_value_length:
            return reasons.LABEL_VALUE_TOO_LONG.at(
                index, name=name, length=len(value), limit=settings.max_label_value_length
            )
    return None


def _depth(value: Any) -> int:
    """Objects nested in `value` (arrays add no level); level by level, without recursion."""
    if type(value) is dict and not any(type(v) in (dict, list) for v in value.values()):
        return 1  # the usual flat object
    depth, level = 0, [value]
    while True:
        objects, pending = [], level
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                objects.append(item)
            elif isinstance(item, list):
                pending.extend(v for v in item if isinstance(v, (dict, list)))
        if not objects:
            return depth
        depth += 1
        level = [v for obj in objects for v in obj.values() if isinstance(v, (dict, list))]


def check_window(index: int, timestamp_ns: int, window: tuple[int | None, int]) -> Rejection | None:
    """Lines must be storable as date_nanos, within retention and not too far ahead."""
    oldest, newest = window
    if not MIN_STORABLE_NS <= timestamp_ns <= MAX_STORABLE_NS:
        return reasons.TIMESTAMP_OUT_OF_RANGE.at(index)
    if oldest is not None and timestamp_ns < oldest:
        return reasons.TOO_OLD.at(
            index,
            timestamp=format_rfc3339_ns(timestamp_ns),
            oldest=format_rfc3339_ns(oldest),
            newest=format_rfc3339_ns(newest),
        )
    if timestamp_ns > newest:
        return reasons.TOO_NEW.at(index, timestamp=format_rfc3339_ns(timestamp_ns), newest=format_rfc3339_ns(newest))
    return None


# Labels are stored in a `flattened` field, which keeps "name\0value" and so refuses NUL in a name.
LABEL_NAME_RULE = "a label name cannot contain the NUL character (\\u0000)"


def _label_name(name: str) -> None:
    if "\x00" in name:
        raise SchemaError(LABEL_NAME_RULE)


class StreamSchema(Schema):
    """`PUT /api/v1/streams`: labels identify the stream, metadata describes it."""

    class Meta:
        unknown = RAISE

    labels = fields.Dict(
        keys=fields.String(validate=[validate.Length(min=1), _label_name]), values=fields.String(), required=True
    )
    metadata = fields.Dict(keys=fields.String(), load_default=dict)


def load_stream(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError("the body must be an object with `labels` and optional `metadata`")
    try:
        stream: dict[str, Any] = StreamSchema().load(data)
        return stream
    except SchemaError as exc:
        raise ValidationError("invalid stream", {"errors": exc.messages}) from None


DELETE_PARAMS = ("start", "end", "q")


class DeleteLinesSchema(Schema):
    """`DELETE /api/v1/lines`: the window [start, end) and q narrow the labelled lines, as on reads."""

    class Meta:
        unknown = RAISE

    start = TimestampField(load_default=None)
    end = TimestampField(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(min=1))

    @validates_schema
    def _window_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("start") is not None and data.get("end") is not None and data["start"] >= data["end"]:
            raise SchemaError("start must be before end (start is inclusive, end exclusive)", "end")


def load_delete_params(query: Mapping[str, str]) -> dict[str, Any]:
    """start, end (ns) and q of a delete; every other name but labels.<key> is refused by name."""
    refuse_unknown(query.keys(), DELETE_PARAMS, "DELETE /api/v1/lines", labels=True)
    try:
        loaded: dict[str, Any] = DeleteLinesSchema().load({k: v for k, v in query.items() if k in DELETE_PARAMS})
        return loaded
    except SchemaError as exc:
        problems = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        summary = "; ".join(f"{name}: {' '.join(map(str, msgs))}" for name, msgs in problems.items())
        raise ValidationError(f"invalid parameters: {summary}", {"parameters": problems}) from None
