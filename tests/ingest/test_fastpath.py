"""The fast acceptance check must agree with LineSchema on every input it accepts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from logriver.core.timeutil import MAX_INT64
from logriver.ingest.fastpath import fast_load
from logriver.ingest.schemas import _LINE_SCHEMA

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False), st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
timestamps = st.one_of(
    st.just("2024-05-01T12:00:00.123456789Z"),
    st.just("2024-05-01T12:00:00+02:00"),
    st.just("2024-13-01T12:00:00Z"),
    st.just("1714564800123"),
    st.integers(-5, 2**45),
    scalars,
)
label_maps = st.one_of(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3), json_values)
optional = {
    "labels": label_maps,
    "order_num": st.one_of(st.integers(-3, 2**64), scalars),
    "fields": st.one_of(st.dictionaries(st.text(max_size=4), json_values, max_size=3), json_values),
    "id": st.one_of(st.text(max_size=600), scalars),
}
messages = st.one_of(st.text(max_size=20), scalars)


def mostly(valid, anything):
    return st.one_of(valid, valid, valid, anything)


good_timestamps = st.one_of(
    st.sampled_from(["2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00+02:00"]), st.integers(0, 2**45)
)
near_valid = {
    "labels": mostly(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3), label_maps),
    "order_num": mostly(st.integers(0, MAX_INT64), optional["order_num"]),
    "fields": mostly(st.dictionaries(st.text(max_size=4), json_values, max_size=3), optional["fields"]),
    "id": mostly(st.text(min_size=1, max_size=30), optional["id"]),
}
# Mostly near-valid lines (so the fast path is exercised), some with anything missing or extra.
lines = st.one_of(
    st.fixed_dictionaries(
        {"@timestamp": mostly(good_timestamps, timestamps), "message": mostly(st.text(max_size=20), messages)},
        optional=near_valid,
    ),
    st.fixed_dictionaries({}, optional={"@timestamp": timestamps, "message": messages, "extra": scalars, **optional}),
)


@settings(max_examples=1500, deadline=None)  # CPU-bound: no time limit on a shared core
@given(lines)
def test_fast_path_accepts_only_what_the_schema_accepts_with_the_same_values(item):
    fast = fast_load(item)
    if fast is None:
        return
    try:
        slow = _LINE_SCHEMA.load(item)
    except ValidationError as exc:
        raise AssertionError(f"fast path accepted what the schema rejects: {exc.messages}") from None
    assert fast == slow


def test_fast_path_takes_ordinary_lines():
    line = {
        "@timestamp": "2024-05-01T12:00:00Z",
        "message": "m",
        "labels": {"a": "b"},
        "order_num": 3,
        "fields": {"x": [1, {"y": None}]},
        "id": "c1",
    }
    assert fast_load(line) == _LINE_SCHEMA.load(line)
    assert fast_load({"@timestamp": 1714564800123, "message": ""}) == _LINE_SCHEMA.load(
        {"@timestamp": 1714564800123, "message": ""}
    )
