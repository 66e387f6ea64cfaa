"""A fast acceptance check for well-formed lines; marshmallow stays the authority.

marshmallow costs ~50 µs a line, more than Elasticsearch spends indexing it. Most lines are
well formed, so this check accepts exactly the lines LineSchema would load (and yields the
same values) in a few microseconds, and hands anything unusual to LineSchema, which decides
and words the error. tests/ingest/test_fastpath.py checks the two agree on generated input.
"""

from __future__ import annotations

from typing import Any

from logriver.core.timeutil import MAX_INT64, TimestampError, parse_timestamp_ns, parse_utc_fast

MAX_ORDER_NUM = MAX_INT64  # order_num is stored as an Elasticsearch long
MAX_CLIENT_ID_CHARS = 512  # a line's `id`: 1 to this many characters
_KEYS = frozenset({"@timestamp", "message", "labels", "order_num", "fields", "id"})


def fast_load(item: dict[str, Any]) -> dict[str, Any] | None:
    """LineSchema's result for a plainly valid line, or None to let LineSchema decide."""
    if not _KEYS.issuperset(item):
        return None
    message = item.get("message")
    timestamp = item.get("@timestamp")
    if type(message) is not str:
        return None
    timestamp_ns = usual_timestamp_ns(timestamp)
    if timestamp_ns is None:
        return None
    labels = item.get("labels", {})
    if type(labels) is not dict or not _all_text(labels):
        return None
    loaded = {"timestamp_ns": timestamp_ns, "message": message, "labels": labels}
    return loaded if len(item) == 2 or _optional_fields_ok(item, loaded) else None


def usual_timestamp_ns(value: Any) -> int | None:
    """TimestampField's value for a readable `@timestamp`; None lets LineSchema decide and word it."""
    # The usual `…T12:00:00.123Z` first: parse_timestamp_ns would strip and test for digits
    # before reaching the same parser, and gives the same value whenever this one gives one.
    fast = parse_utc_fast(value) if type(value) is str else None
    if fast is not None or type(value) not in (str, int):
        return fast
    try:
        return parse_timestamp_ns(value)
    except TimestampError:
        return None


def _all_text(labels: dict[Any, Any]) -> bool:
    # A plain loop: a generator under all() cost more than the checks themselves.
    for key, value in labels.items():  # noqa: SIM110 - see above
        if type(key) is not str or type(value) is not str:
            return False
    return True


def _optional_fields_ok(item: dict[str, Any], loaded: dict[str, Any]) -> bool:
    if "order_num" in item:
        order_num = item["order_num"]
        if order_num is not None and (type(order_num) is not int or not 0 <= order_num <= MAX_ORDER_NUM):
            return False
        loaded["order_num"] = order_num
    if "fields" in item:
        extra = item["fields"]
        if extra is not None and (type(extra) is not dict or any(type(k) is not str for k in extra)):
            return False
        loaded["extra_fields"] = extra
    if "id" in item:
        client_id = item["id"]
        if client_id is not None and (type(client_id) is not str or not 1 <= len(client_id) <= MAX_CLIENT_ID_CHARS):
            return False
        loaded["client_id"] = client_id
    return True
