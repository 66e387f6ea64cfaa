"""Line and SortKey build their frozen instance by hand (for speed): they must still be the dataclass."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logriver.query.cursor import SortKey
from logriver.query.reader import Line

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
