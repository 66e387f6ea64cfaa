"""Compressed bodies on the write routes, over TCP: a broken one is always answered with a 4xx.

The HTTP server used to inflate bodies itself; on a body that did not inflate, the handler's
400 was followed by a second failure while the server drained the body, and the connection
was dropped with no answer. Here every damaged body must get its family's error envelope.
"""

from __future__ import annotations

import gzip
import http.client
import json
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import islice

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logriver.core.body import READ_CHUNK, Inflater
from logriver.core.timeutil import format_rfc3339_ns
from tests.fuzz.conftest import LiveServer, running_server

AUTH = (b"Authorization", b"Bearer admin-acme")
MIB = 1024 * 1024


def _now() -> str:
    return format_rfc3339_ns(time.time_ns())


def _lines() -> bytes:
    return json.dumps([{"@timestamp": _now(), "message": "compressed " * 20, "labels": {"app": "zip"}}]).encode()


def _bulk() -> bytes:
    rows = [{"index": {"_index": "logs"}}, {"@timestamp": _now(), "message": "compressed " * 20}]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _otlp() -> bytes:
    record = {"timeUnixNano": str(time.time_ns()), "body": {"stringValue": "compressed " * 20}}
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}).encode()


def _loki() -> bytes:
    stream = {"stream": {"app": "zip"}, "values": [[str(time.time_ns()), "compressed " * 20]]}
    return json.dumps({"streams": [stream]}).encode()


def _iceprod() -> bytes:
    return json.dumps({"data": "compressed " * 20}).encode()


def _json_error(kind: str) -> Callable[[bytes], bool]:
    return lambda answer: json.loads(answer)["error"]["type"] == kind


@dataclass(frozen=True)
class Route:
    path: str
    content_type: bytes
    body: Callable[[], bytes]
    ok: int
    is_refusal: Callable[[bytes], bool]  # the family's envelope, saying the body would not inflate


ROUTES = {
    "native": Route("/api/v1/lines", b"application/json", _lines, 200, _json_error("invalid_encoding")),
    "escompat": Route("/es/_bulk", b"application/x-ndjson", _bulk, 200, _json_error("invalid_encoding")),
    "otlp": Route("/v1/logs", b"application/json", _otlp, 200, lambda a: json.loads(a)["code"] == 3),
    "loki_push": Route("/loki/api/v1/push", b"application/json", _loki, 204, lambda a: b"Content-Encoding" in a),
    "iceprod": Route("/logs", b"application/json", _iceprod, 201, lambda a: json.loads(a)["code"] == 400),
}
CODINGS = ["gzip", "x-gzip", "deflate", "raw-deflate"]


def compress(coding: str, raw: bytes) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(raw)
    packed = zlib.compress(raw)
    return packed if coding == "deflate" else packed[2:-4]  # raw deflate: no zlib header or checksum


def header(coding: str) -> bytes:
    return b"deflate" if coding == "raw-deflate" else coding.encode()


def send(server: LiveServer, route: Route, coding: str, body: bytes) -> tuple[int, bytes]:
    """POST `body`, then ask `/healthz` on the same kept-alive connection: both must be answered.

    The server used to answer a body that did not inflate, then drop the connection while the
    client was already sending its next request on it: that request raises here (RemoteDisconnected).
    """
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.putrequest("POST", route.path, skip_accept_encoding=True)
        for name, value in [AUTH, (b"Content-Type", route.content_type), (b"Content-Encoding", header(coding))]:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        answer = response.status, response.read()
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        return answer
    finally:
        conn.close()


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("family", ROUTES)
def test_a_valid_compressed_body_is_stored(live_server: LiveServer, family: str, coding: str) -> None:
    route = ROUTES[family]
    status, answer = send(live_server, route, coding, compress(coding, route.body()))
    assert status == route.ok, answer[:500]


def test_concatenated_gzip_members_are_one_body(live_server: LiveServer) -> None:
    first, second = b'[{"@timestamp": "' + _now().encode(), b'", "message": "two members"}]'
    status, answer = send(live_server, ROUTES["native"], "gzip", gzip.compress(first) + gzip.compress(second))
    assert status == 200, answer[:500]
    assert json.loads(answer)["accepted"] == 1


@cache
def fixed_body(family: str) -> bytes:
    """One body per family for the whole run: hypothesis replays a case only if its sizes repeat."""
    return ROUTES[family].body()


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, str, bytes, bool]:
    """(family, coding, a damaged compressed body, whether it certainly does not inflate)."""
    family = draw(st.sampled_from(sorted(ROUTES)))
    coding = draw(st.sampled_from(CODINGS))
    packed = compress(coding, fixed_body(family))
    how = draw(st.sampled_from(["truncated", "trailing", "flipped", "overwritten"]))
    if how == "truncated":
        return family, coding, packed[: draw(st.integers(1, len(packed) - 1))], True
    if how == "trailing":
        # Not the start of another gzip member: bytes that are not one.
        junk = draw(st.binary(min_size=1, max_size=64).filter(lambda b: b[0] != 0x1F))
        return family, coding, packed + junk, True
    body = bytearray(packed)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body) - 1))
        body[at] = body[at] ^ (1 << draw(st.integers(0, 7))) if how == "flipped" else draw(st.integers(0, 255))
    return family, coding, bytes(body), False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=damaged())
def test_a_damaged_compressed_body_is_answered_with_a_4xx(live_server: LiveServer, case: tuple) -> None:
    family, coding, body, broken = case
    route = ROUTES[family]
    status, answer = send(live_server, route, coding, body)  # a dropped connection raises here
    assert status < 500, (status, answer[:500])
    if broken or status != route.ok:
        assert 400 <= status < 500, (status, answer[:500])
    if broken:
        assert status == 400 and route.is_refusal(answer), answer[:500]


@pytest.fixture(scope="module")
def small_limit_server(es_url: str) -> Iterator[LiveServer]:
    """A request limit (1 MiB) below the in-flight budget (8 MiB): the limit answers first."""
    with running_server(es_url, max_request_bytes=MIB) as server:
        yield server


@pytest.mark.parametrize("coding", CODINGS)
def test_a_body_that_inflates_past_the_limit_is_413(small_limit_server: LiveServer, coding: str) -> None:
    bomb = compress(coding, b"[" + b" " * (64 * MIB) + b"]")  # about 64 KiB that inflate to 64 MiB
    status, answer = send(small_limit_server, ROUTES["native"], coding, bomb)
    assert status == 413, answer[:500]
    error = json.loads(answer)["error"]
    assert error["type"] == "request_too_large" and error["details"]["limit"] == "max_request_bytes"


def test_inflating_goes_no_further_than_asked() -> None:
    """A reader that stops at its limit stops the inflating: a zip bomb is never inflated whole."""
    bomb = zlib.compress(b"\0" * (256 * MIB))  # about 250 KiB that inflate to 256 MiB
    pieces = list(islice(Inflater("deflate").feed(bomb), 4))
    assert [len(piece) for piece in pieces] == [READ_CHUNK] * 4
