"""Loki push answers: statuses and messages, tenants, both encodings, refused entries."""

from __future__ import annotations

import dataclasses
import gzip
import time

import cramjam
import orjson
import pytest

from logriver.adapters.loki.proto import PushRequest
from logriver.core.timeutil import parse_rfc3339_ns
from tests.adapters.protocol_clients import read_stream
from tests.helpers import auth

PUSH = "/loki/api/v1/push"


def protobuf_push(streams: list[tuple[str, list[tuple[int, str, dict[str, str]]]]]) -> bytes:
    request = PushRequest()
    for labels, entries in streams:
        stream = request.streams.add(labels=labels)
        for timestamp, line, metadata in entries:
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(timestamp, 10**9)
            for name, value in metadata.items():
                entry.structuredMetadata.add(name=name, value=value)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


async def test_protobuf_push_with_metadata_and_escaped_labels(api):
    now = time.time_ns()
    body = protobuf_push(
        [
            (
                '{job="proto", path="C:\\\\logs\\"x\\"", env="prod"}',
                [(now, "first", {"trace_id": "t1"}), (now + 1, "second", {})],
            ),
        ]
    )
    for headers in (
        {"Content-Type": "application/x-protobuf"},
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
    ):
        response = await api.http.post(PUSH, data=body, headers={**auth("write-acme"), **headers})
        assert response.status == 204, await response.text()
    lines = await read_stream(api, 2, job="proto")
    assert len(lines) == 2  # the second push was the same entries: stored once
    assert [line["message"] for line in lines] == ["first", "second"]
    assert lines[0]["labels"] == {"job": "proto", "path": 'C:\\logs"x"', "env": "prod"}
    assert [line["fields"] for line in lines] == [{"trace_id": "t1"}, {}]
    assert parse_rfc3339_ns(lines[1]["@timestamp"]) == now + 1


async def test_json_push_gzip_with_metadata_and_a_refused_entry(api):
    now = time.time_ns()
    body = {
        "streams": [
            {
                "stream": {"job": "json-push"},
                "values": [[str(now), "a", {"user": "u1"}], ["1", "from 1970"], [str(now + 5), "b"]],
            },
            {"stream": {}, "values": [[str(now), "no labels"]]},
        ]
    }
    response = await api.http.post(
        PUSH,
        data=gzip.compress(orjson.dumps(body)),
        headers={**auth("write-acme"), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status == 400 and response.content_type == "text/plain"
    text = await response.text()
    assert "entry 1: too_old" in text and "entry 3: invalid_labels" in text and "total ignored: 2 out of 4" in text
    lines = await read_stream(api, 2, job="json-push")
    assert [(line["message"], line["fields"]) for line in lines] == [("a", {"user": "u1"}), ("b", {})]


@pytest.mark.parametrize(
    ("headers", "body", "status", "words"),
    [
        (
            {"Content-Type": "application/json"},
            b'{"streams": [{"stream": {"a": "b"}, "values": [[1, "x"]]}]}',
            400,
            "nanoseconds",
        ),
        ({"Content-Type": "application/json"}, b'{"streams": 3}', 400, "streams"),
        ({"Content-Type": "application/json"}, b"nope", 400, "JSON"),
        ({"Content-Type": "application/x-protobuf"}, b"\x05garbage-not-snappy", 400, "snappy"),
        ({"Content-Type": "text/plain"}, b"x", 415, "Content-Type"),
        ({"Content-Type": "application/json", "X-Scope-OrgID": "other"}, b'{"streams": []}', 403, "X-Scope-OrgID"),
    ],
)
async def test_refusals_in_loki_words(api, headers, body, status, words):
    response = await api.http.post(PUSH, data=body, headers={**auth("write-acme"), **headers})
    assert response.status == status and words in await response.text()


async def test_own_tenant_header_and_tokens(api):
    body = b'{"streams": []}'
    ok = await api.http.post(
        PUSH, data=body, headers={**auth("write-acme"), "Content-Type": "application/json", "X-Scope-OrgID": "acme"}
    )
    assert ok.status == 204
    assert (
        await api.http.post(PUSH, data=body, headers={**auth("nope"), "Content-Type": "application/json"})
    ).status == 401
    assert (
        await api.http.post(PUSH, data=body, headers={**auth("read-acme"), "Content-Type": "application/json"})
    ).status == 403


async def test_snappy_bomb_is_refused_before_inflating(make_api, settings):
    api = await make_api(dataclasses.replace(settings, max_request_bytes=10_000))
    bomb = bytes(cramjam.snappy.compress_raw(b"\0" * 50_000))
    response = await api.http.post(
        PUSH, data=bomb, headers={**auth("write-acme"), "Content-Type": "application/x-protobuf"}
    )
    assert response.status == 413 and "LOGRIVER_MAX_REQUEST_BYTES" in await response.text()
