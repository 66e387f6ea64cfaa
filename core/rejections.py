"""Every reason a line (or a bulk document) is turned away: its stable code and message template.

A batch stores its valid lines and reports each rejected one by index with one of these; the
Elasticsearch-compatible surface answers the same reasons in its items. Codes are API: clients
match on them, so a code never changes meaning; the messages say which limit and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rejection:
    """One rejected line of a request, by its position in the request."""

    index: int
    type: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "type": self.type, "message": self.message}


@dataclass(frozen=True)
class Reason:
    """A rejection reason: a code and a `str.format` template; `status` is the bulk item's status."""

    code: str
    template: str
    status: int = 400

    def text(self, **values: Any) -> str:
        return self.template.format(**values)

    def at(self, index: int, **values: Any) -> Rejection:
        """This reason for the line at `index`."""
        return Rejection(index, self.code, self.text(**values))


# Parsing and the shape of a line.
NOT_JSON = Reason("invalid_json", "this NDJSON line is not JSON: {error}")
NOT_AN_OBJECT = Reason("invalid_line", "a line must be a JSON object, got {kind}")
INVALID_LINE = Reason("invalid_line", "{problem}")
MISSING_FIELD = Reason("missing_field", "`{name}` is required")
UNKNOWN_FIELD = Reason("unknown_field", "`{name}` is not a line field; put extra data under `fields`")
# A line field of the wrong type or form, by field name; `invalid_line` for any other.
INVALID_FIELD = {
    "@timestamp": Reason("invalid_timestamp", "`{name}`: {problem}"),
    "message": Reason("invalid_message", "`{name}`: {problem}"),
    "labels": Reason("invalid_labels", "`{name}`: {problem}"),
    "order_num": Reason("invalid_order_num", "`{name}`: {problem}"),
    "fields": Reason("invalid_fields", "`{name}`: {problem}"),
    "id": Reason("invalid_id", "`{name}`: {problem}"),
}
INVALID_OTHER_FIELD = Reason("invalid_line", "`{name}`: {problem}")

# Limits of the settings; each message names the setting.
MESSAGE_TOO_LONG = Reason(
    "message_too_long", "message is {size} bytes; LOGRIVER_MAX_MESSAGE_BYTES is {limit}: split the line"
)
TOO_MANY_LABELS = Reason("too_many_labels", "{count} labels; LOGRIVER_MAX_LABELS is {limit}")
LABEL_NAME_TOO_LONG = Reason("label_name_too_long", "label name {name!r} must be 1 to {limit} characters")
# Labels are stored in a `flattened` field, which keeps "name\0value" and so refuses NUL in a name.
LABEL_NAME_NUL = Reason("invalid_label_name", "a label name cannot contain the NUL character (\\u0000)")
LABEL_VALUE_TOO_LONG = Reason(
    "label_value_too_long", "label {name!r} value is {length} characters; LOGRIVER_MAX_LABEL_VALUE_LENGTH is {limit}"
)
FIELDS_TOO_DEEP = Reason("fields_too_deep", "`fields` nests deeper than LOGRIVER_MAX_FIELDS_DEPTH ({limit})")

# The time window lines are accepted in.
TIMESTAMP_OUT_OF_RANGE = Reason(
    "invalid_timestamp", "@timestamp must be between 1970-01-01 and 2262-04-11 (nanosecond dates)"
)
TOO_OLD = Reason(
    "too_old",
    "@timestamp {timestamp} is older than the retention period; accepted lines are from {oldest} to {newest}",
)
TOO_NEW = Reason(
    "too_new",
    "@timestamp {timestamp} is too far in the future; accepted lines are up to {newest} (LOGRIVER_MAX_FUTURE_SECONDS)",
)

# Records of a foreign protocol that cannot become lines.
STREAM_LABELS = Reason("invalid_labels", "its stream's labels are refused: {problem}")
INVALID_TRACE_ID = Reason("invalid_trace_id", "`{name}` must be empty or {size} bytes, got {got}")

# Elasticsearch refused the line itself (not the request).
REJECTED_BY_STORAGE = Reason("rejected_by_storage", "{reason}")
STREAM_NOT_REGISTERED = Reason("rejected_by_storage", "its stream cannot be registered: {reason}")

# Documents of the Elasticsearch-compatible surface that cannot become lines.
DOCUMENT_TIMESTAMP = Reason("invalid_timestamp", "`{name}`: {problem}")
LABEL_NOT_TEXT = Reason("invalid_labels", "`{name}` is promoted to a label but holds a {kind}; labels are text")
ORDER_NUM_NOT_INTEGER = Reason("invalid_order_num", "`{name}` must be a non-negative integer, got {value!r}")

# Bulk actions refused one by one, with the types and statuses Elasticsearch gives them.
ID_NOT_TEXT = Reason("illegal_argument_exception", "`_id` must be a string")
INDEX_MISSING = Reason("action_request_validation_exception", "Validation Failed: 1: index is missing;")
DOCUMENT_NOT_JSON = Reason("document_parsing_exception", "the document is not JSON: {error}")
DOCUMENT_NOT_OBJECT = Reason("document_parsing_exception", "the document must be a JSON object, got {kind}")
UNSUPPORTED_ACTION = Reason(
    "illegal_argument_exception",
    "the {op} action is not supported: logriver keeps lines as written; use index or create",
)
STORAGE_SHEDDING_LOAD = Reason("es_rejected_execution_exception", "storage is shedding load; retry", status=429)
ALREADY_EXISTS = Reason(
    "version_conflict_engine_exception",
    "[{doc_id}]: version conflict, document already exists (current version [1])",
    status=409,
)


def reason_codes() -> frozenset[str]:
    """Every rejection code defined in this module: the closed set a metric label may take."""
    found: set[str] = set()
    for value in globals().values():
        for reason in value.values() if isinstance(value, dict) else [value]:
            if isinstance(reason, Reason):
                found.add(reason.code)
    return frozenset(found)
