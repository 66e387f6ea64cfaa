"""The `fields` depth limit: objects count, arrays do not, at any shape of nesting."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from logriver.core.settings import Settings
from logriver.core.timeutil import format_rfc3339_ns, now_ns
from logriver.ingest.schemas import LineIn, check_limits

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=40,
)


def objects_deep(value: Any) -> int:
    """The definition, written plainly: an object adds a level, an array passes its items through."""
    if isinstance(value, dict):
        return 1 + max((objects_deep(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((objects_deep(v) for v in value), default=0)
    return 0


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"in": [value]}
    return value


@given(st.dictionaries(st.text(max_size=2), JSON, max_size=4), st.integers(min_value=1, max_value=6))
def test_the_limit_counts_objects_as_the_definition_does(fields, limit):
    line = LineIn(now_ns(), "m", {}, fields=fields)
    rejection = check_limits(0, line, Settings(max_fields_depth=limit))
    too_deep = objects_deep(fields) > limit
    assert (rejection is not None and rejection.type == "fields_too_deep") is too_deep


async def test_the_api_refuses_one_level_too_many_and_takes_the_limit(api):
    limit = Settings().max_fields_depth
    lines = [
        {"@timestamp": format_rfc3339_ns(now_ns()), "message": "at the limit", "fields": nested(limit)},
        {"@timestamp": format_rfc3339_ns(now_ns()), "message": "one more", "fields": nested(limit + 1)},
    ]
    body = await api.post_lines({"labels": {"s": "depth"}, "lines": lines})
    assert body["accepted"] == 1
    assert [(r["index"], r["type"]) for r in body["rejected"]] == [(1, "fields_too_deep")]
