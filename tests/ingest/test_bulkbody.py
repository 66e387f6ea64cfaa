"""The one-pass bulk body must store exactly the document the writer's reference shape describes."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from logriver.core.indices import IndexLayout
from logriver.core.streams import stream_id
from logriver.core.timeutil import MAX_INT64
from logriver.ingest.bulkbody import BulkBody
from logriver.ingest.schemas import LineIn
from logriver.ingest.writer import SequenceAllocator, _line_document

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
label_sets = st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3), min_size=1, max_size=3)
# Every precision the time can have: whole seconds, ms, µs, ns, and seconds shared between lines.
timestamps = st.one_of(
    st.integers(0, MAX_INT64),
    st.integers(0, 4_000_000_000).map(lambda s: s * 10**9),
    st.tuples(st.integers(1_700_000_000, 1_700_000_003), st.integers(0, 999)).map(
        lambda t: t[0] * 10**9 + t[1] * 10**6
    ),
    st.tuples(st.integers(1_700_000_000, 1_700_000_003), st.integers(0, 999_999)).map(
        lambda t: t[0] * 10**9 + t[1] * 1000
    ),
)


@st.composite
def requests(draw):
    streams = draw(label_sets)
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        labels = draw(st.sampled_from(streams))
        # Now and then a copy, or the keys in reverse: equal labels in distinct dicts are one
        # stream, and each line keeps its keys' order.
        copy = draw(st.sampled_from(["same", "copy", "reversed"]))
        labels = {"same": labels, "copy": dict(labels), "reversed": dict(reversed(labels.items()))}[copy]
        fields = draw(st.none() | st.dictionaries(st.text(max_size=4), json_values, max_size=3))
        order_num = draw(st.none() | st.integers(0, MAX_INT64))
        lines.append(LineIn(draw(timestamps), draw(st.text(max_size=30)), labels, order_num, fields))
    return (
        draw(st.text(min_size=1, max_size=8)),
        lines,
        draw(st.integers(0, 2**62)),
        draw(st.sampled_from(["hour", "day", "month"])),
    )


@settings(max_examples=600, deadline=None)  # CPU-bound: no time limit on a shared core
@given(requests())
def test_documents_and_actions_equal_the_reference_shape(request):
    tenant, lines, base, granularity = request
    layout = IndexLayout("lr", granularity)
    node, ingested = "a1b2c3", "2024-05-01T12:00:00.123456789Z"
    body = BulkBody(tenant, ingested, node, layout.lines_index)
    for offset, line in enumerate(lines):
        stream = body.stream(line.labels)
        sid = stream.record.sid
        assert sid == stream_id(tenant, line.labels)
        document = body.document(stream, line.timestamp_ns, line.order_num, base + offset, line.message, line.fields)
        seq = SequenceAllocator.format(base, offset, node)
        assert document == orjson.dumps(_line_document(tenant, sid, line, seq, ingested))
        action = {"create": {"_index": layout.lines_index(line.timestamp_ns), "_id": f"{offset:032x}"}}
        assert orjson.loads(body.action(line.timestamp_ns, f"{offset:032x}")) == action
    firsts = {}
    for line in lines:
        firsts.setdefault(stream_id(tenant, line.labels), line.labels)
    assert {sid: r.labels for sid, r in body.streams.items()} == firsts
