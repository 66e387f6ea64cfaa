"""The pure parts of the Elasticsearch-compatible surface: index names, times, filter_path, bulk parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logriver.adapters.escompat.bulk import parse_bulk
from logriver.adapters.escompat.mapping import (
    DocumentMapping,
    MappingError,
    document_to_line,
    index_stream_name,
    parse_document_time,
)
from logriver.adapters.escompat.web import filter_path
from logriver.core.errors import BadRequestError
from tests.adapters.es_helpers import ndjson


@pytest.mark.parametrize(
    "index, stream",
    [
        ("logstash-2024.05.01", "logstash"),
        ("scalelogs-2024.05.01", "scalelogs"),
        ("syslog.2024.05.01", "syslog"),
        ("app_2024-05-01", "app"),
        ("app-20240501", "app"),
        ("logs-2024.05", "logs"),
        ("logs-2024.05.01.13", "logs"),
        ("filebeat-8.12.0-2024.05.01", "filebeat-8.12.0"),
        ("filebeat-8.12.0", "filebeat-8.12.0"),
        ("logs-generic-default", "logs-generic-default"),
        ("app-123456", "app-123456"),  # not a month
        ("logs-2024.13.01", "logs-2024.13.01"),
        ("logs-2024.05.01.25", "logs-2024.05.01.25"),
        ("build-2024", "build-2024"),
        ("2024.05.01", "2024.05.01"),  # nothing would be left
    ],
)
def test_index_stream_name(index, stream):
    assert index_stream_name(index) == stream


@pytest.mark.parametrize(
    "value, expected_ns",
    [
        ("2024-05-01T12:00:00.123456789Z", 1714564800123456789),
        ("2024-05-01T14:00:00.123456+02:00", 1714564800123456000),
        ("2024-05-01T12:00:00", 1714564800000000000),
        ("2024-05-01T12:00", 1714564800000000000),
        ("2024-05-01", 1714521600000000000),
        (1714564800123, 1714564800123000000),
        (1714564800123.5, 1714564800123500000),
        ("1714564800123", 1714564800123000000),
    ],
)
def test_document_times(value, expected_ns):
    assert parse_document_time("@timestamp", value) == expected_ns


def _outcome(value):
    try:
        return parse_document_time("@timestamp", value)
    except MappingError as exc:
        return exc.message


_document_times = st.builds(
    lambda date, time, frac, zone: f"{date}T{time}{frac}{zone}",
    st.sampled_from(["2024-05-01", "2024-02-31", "1970-01-01", "2262-04-11", "99999-01-01"]),
    st.sampled_from(["12:00:00", "23:59:60", "23:59:61", "24:00:00", "12:00"]),
    st.one_of(st.just(""), st.text(alphabet="0123456789", max_size=10).map(lambda t: "." + t)),
    st.sampled_from(["Z", "z", "+02:00", "", "Z\n", "ZZ"]),
)


@settings(max_examples=500, deadline=None)  # CPU-bound: a shared core must not fail it on time
@given(st.one_of(_document_times, st.text(max_size=30)))
def test_document_times_agree_with_and_without_the_usual_shape_shortcut(text):
    # A leading space keeps the string off the shortcut for `…Z` times; the strip then makes it
    # the same string for the general path: both answers must be the same.
    assert _outcome(text) == _outcome(" " + text)


@pytest.mark.parametrize("value", ["yesterday", True, None, {"ts": 1}, "2024-02-31T00:00:00Z", float("nan")])
def test_bad_document_times(value):
    with pytest.raises(MappingError) as raised:
        parse_document_time("@timestamp", value)
    assert raised.value.type == "invalid_timestamp"


def test_labels_from_nested_and_dotted_fields_leave_no_empty_objects():
    mapping = DocumentMapping(label_fields=("kubernetes.labels.app", "host.name"))
    document = {"message": "m", "kubernetes": {"labels": {"app": "web"}}, "host.name": "h", "@timestamp": 0}
    line = document_to_line(document, "k8s", "id-1", mapping, 5)
    assert line == {
        "@timestamp": "1970-01-01T00:00:00Z",
        "message": "m",
        "id": "id-1",
        "labels": {"index": "k8s", "kubernetes.labels.app": "web", "host.name": "h"},
    }


def test_a_document_without_time_gets_the_time_received():
    line = document_to_line({"log": "x", "level": 3}, "i", None, DocumentMapping(index_label=None), 1_500_000_000)
    assert line == {"@timestamp": "1970-01-01T00:00:01.500Z", "message": "x", "labels": {}, "fields": {"level": 3}}


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            "errors,items.*.error,items.*.status",
            {
                "errors": True,
                "items": [{"create": {"status": 201}}, {"index": {"status": 400, "error": {"type": "t"}}}],
            },
        ),
        ("errors", {"errors": True}),
        ("items.*.status", {"items": [{"create": {"status": 201}}, {"index": {"status": 400}}]}),
        ("items.index._id", {"items": [{"index": {"_id": "b"}}]}),
        ("**.type", {"items": [{"index": {"error": {"type": "t"}}}]}),
        ("nothing", {}),
        ("-took", None),  # exclusions are not supported: the answer is left whole
    ],
)
def test_filter_path(spec, expected):
    answer = {
        "took": 3,
        "errors": True,
        "items": [
            {"create": {"_id": "a", "status": 201}},
            {"index": {"_id": "b", "status": 400, "error": {"type": "t"}}},
        ],
    }
    assert filter_path(answer, spec) == (answer if expected is None else expected)


def test_bulk_parsing_pairs_actions_and_documents():
    body = (
        ndjson(
            {"index": {"_index": "a", "_id": 7}},
            {"m": 1},
            {"delete": {"_id": "x"}},
            {"create": {"_type": "_doc"}},
            b"[1]",
        )
        + b"\n\r\n"
    )
    actions = parse_bulk(body, "default")
    assert [(a.op, a.index, a.doc_id, a.source) for a in actions] == [
        ("index", "a", "7", {"m": 1}),
        ("delete", "default", "x", None),
        ("create", "default", None, [1]),
    ]
    assert actions[2].error.type == "document_parsing_exception"


@pytest.mark.parametrize("body", [b"", b"[]\n{}\n", b'{"index": {}, "create": {}}\n{}\n', b'{"index": 3}\n{}\n'])
def test_malformed_bulk_bodies(body):
    with pytest.raises(BadRequestError):
        parse_bulk(body, None)
