"""Line and SortKey build their frozen instance by hand (for speed): they must still be the dataclass."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logriver.query.cursor import SortKey
from logriver.query.reader import Line, hit_to_line

keys = st.builds(SortKey, st.integers(0, 3), st.integers(0, 3), st.text(max_size=2))  # small: ties happen


@pytest.mark.parametrize("cls", [Line, SortKey])
def test_the_constructor_takes_exactly_the_fields_in_order(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(inspect.signature(cls.__init__).parameters)[1:] == names


@given(st.integers(0, 3), st.integers(0, 3), st.text(max_size=2), keys)
def test_sort_keys_hold_their_values_compare_hash_and_stay_frozen(timestamp, order, seq, other):
    key = SortKey(timestamp, order, seq)
    assert (key.timestamp_ns, key.order_num, key.seq) == (timestamp, order, seq)
    assert dataclasses.astuple(key) == (timestamp, order, seq)
    assert key == SortKey(timestamp_ns=timestamp, order_num=order, seq=seq)
    assert hash(key) == hash(SortKey(timestamp, order, seq))
    assert (key < other) == ((timestamp, order, seq) < dataclasses.astuple(other))
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.seq = "x"  # type: ignore[misc]


@given(
    st.text(max_size=4),
    st.integers(0, 2**63 - 1),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    keys,
    st.none() | st.lists(st.text(max_size=3), max_size=2),
)
def test_lines_hold_their_values_and_stay_frozen(message, timestamp, labels, key, highlight):
    values = {
        "id": "i",
        "timestamp_ns": timestamp,
        "order_num": 1,
        "message": message,
        "labels": labels,
        "fields": {"f": [1]},
        "stream_id": "s",
        "key": key,
    }
    line = Line(**values, highlight=highlight)
    assert dataclasses.asdict(line) == {**values, "key": dataclasses.asdict(key), "highlight": highlight}
    assert Line(**values).highlight is None
    assert line == Line(*values.values(), highlight)
    assert line != Line(**{**values, "message": message + "x"}, highlight=highlight)
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.message = "changed"  # type: ignore[misc]


sources = st.fixed_dictionaries(
    {"@timestamp": st.sampled_from(["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123456789Z"])},
    optional={
        "order_num": st.integers(0, 2**31),
        "message": st.text(max_size=4),
        "labels": st.dictionaries(st.text(max_size=2), st.text(max_size=2), max_size=2),
        "fields": st.none() | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
        "stream_id": st.text(max_size=3),
        "seq": st.text("0123456789abcdef", min_size=1, max_size=4),
    },
)
hits = st.fixed_dictionaries(
    {"_id": st.text(max_size=4), "_source": sources},
    optional={
        "sort": st.tuples(st.integers(0, 2**62), st.integers(0, 9), st.text(max_size=3)).map(list),
        "highlight": st.fixed_dictionaries({}, optional={"message": st.lists(st.text(max_size=3), max_size=2)}),
    },
)


@given(hits, st.sampled_from([f.name for f in dataclasses.fields(Line)]))
def test_a_line_from_a_hit_is_the_line_hit_to_line_builds(hit, first_read):
    eager = hit_to_line(hit)
    # Rendered before any field is read (a page's way), then after one field filled them all.
    assert Line.from_hit(hit).as_dict() == eager.as_dict()
    lazy = Line.from_hit(hit)
    assert getattr(lazy, first_read) == getattr(eager, first_read)
    assert dataclasses.asdict(lazy) == dataclasses.asdict(eager)
    assert lazy == eager
    assert lazy.as_dict() == eager.as_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.message = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        _ = lazy.no_such_field  # type: ignore[attr-defined]
