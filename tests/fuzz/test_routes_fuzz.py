"""Hostile bodies, headers and parameters on every route of every API family: never a 5xx.

`LOGRIVER_FUZZ_EXAMPLES` sets the examples per family (default 60) for a deeper run.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
import zlib
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logriver.core.timeutil import format_rfc3339_ns
from tests.fuzz.conftest import LiveServer

EXAMPLES = int(os.environ.get("LOGRIVER_FUZZ_EXAMPLES", "60"))
# Set: record every failure and fail once at the end (a survey), instead of shrinking the first.
KEEP_GOING = os.environ.get("LOGRIVER_FUZZ_KEEP_GOING", "") not in ("", "0")
FAMILIES = {
    "native": re.compile(r"^/api/v1/|^/healthz|^/readyz|^/metrics"),  # with the service's own routes
    "escompat": re.compile(r"^/es(/|$)"),
    "iceprod": re.compile(r"^/(logs|datasets)(/|$)"),
    "scale": re.compile(r"^/v\d+/job-executions/"),
    "modelarts": re.compile(r"^/v1/[^/]+/services/"),
    "abeja": re.compile(r"^/organizations/"),
    "loki": re.compile(r"^/loki/(?!api/v1/push$)"),
    "viewer": re.compile(r"^/$|^/viewer(/|$)"),
    "otlp": re.compile(r"^/otlp/v1/logs$|^/v1/logs$"),
    "loki_push": re.compile(r"^/loki/api/v1/push$"),
}
TOKEN = b"Bearer admin-acme"

HOSTILE_TEXT = [
    "",
    "\x00",
    "9" * 5000,
    "-" + "9" * 4400,
    "1e309",
    "-1",
    "0",
    "18446744073709551616",
    "NaN",
    "inf",
    "1.5",
    "NOT " * 600 + "x",
    "(" * 300 + "x" + ")" * 300,
    "a:b OR *",
    '"unterminated',
    "\\",
    "P1Y",
    "P99999999999999999999999D",
    "PT1S",
    "1m",
    "1ms",
    "auto",
    "10000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2262-04-12T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "1970-01-01",
    "2024-13-45T99:99:99Z",
    "x" * 5000,
    "\ud800",
    "\udfff tail",
    "naïve ✓",
    "true",
    "wait_for",
    "desc",
    "name|data|log_id",
]
PARAM_NAMES = [
    "limit", "start", "end", "q", "interval", "sort", "token", "from", "to", "before", "after", "refresh",
    "stream_id", "labels.app", "labels.", "labels.\x00", "keys", "num", "order", "group", "started", "ended",
    "format", "offset", "start_time", "end_time", "event_type", "next_token", "next_forward_token",
    "next_backward_token", "filter_path", "pretty", "dataset_id", "task_id", "name", "timeout",
]  # fmt: skip
PATH_VALUES = ["x", "0", "1", "9" * 500, "abc_def", "combined", "stdout", "%00", "%ff", "..", "a" * 300]


def _leaf() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([10**4000, -(10**4000), 1e308, -0.0, True, False, None]),
        st.text(max_size=20),
    )


def _json_value() -> st.SearchStrategy[Any]:
    return st.recursive(
        _leaf(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(HOSTILE_TEXT), st.text()), inner, max_size=4),
        ),
        max_leaves=12,
    )


def _deep(depth: int, kind: str) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"k": value} if kind == "dict" else [value]
    return value


def _dumps(value: Any) -> bytes:
    # json, not orjson: it writes huge integers and lone surrogates (as escapes) without complaint.
    try:
        return json.dumps(value, allow_nan=True).encode()
    except (RecursionError, ValueError):
        return b"[" * 5000 + b"]" * 5000


@st.composite
def _family_body(draw: st.DrawFn) -> Any:
    now = format_rfc3339_ns(time.time_ns())
    leaf = _json_value()
    deep = st.builds(_deep, st.sampled_from([30, 200, 600, 1100]), st.sampled_from(["dict", "list"]))
    line = st.fixed_dictionaries(
        {"@timestamp": st.one_of(st.just(now), leaf), "message": st.one_of(st.just("hello"), leaf)},
        optional={
            "labels": st.dictionaries(st.sampled_from(HOSTILE_TEXT), st.one_of(st.just("v"), leaf), max_size=3),
            "fields": st.one_of(deep, leaf),
            "order_num": leaf,
            "id": leaf,
        },
    )
    return draw(
        st.one_of(
            st.lists(line, max_size=3),
            st.fixed_dictionaries({"labels": st.just({"app": "fuzz"}), "lines": st.lists(line, max_size=3)}),
            st.fixed_dictionaries(
                {"labels": st.dictionaries(st.sampled_from(HOSTILE_TEXT), leaf, max_size=3)},
                optional={"metadata": st.one_of(deep, leaf)},
            ),
            st.fixed_dictionaries(
                {"data": st.one_of(st.just("a log"), leaf)},
                optional={"name": leaf, "task_id": leaf, "dataset_id": leaf, "extra": st.one_of(deep, leaf)},
            ),
            deep,
            leaf,
        )
    )


@st.composite
def _bulk_body(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.one_of(st.just({"index": {}}), st.just({"create": {"_index": "logs-2024"}}), _json_value()))
        doc = draw(
            st.one_of(
                st.fixed_dictionaries(
                    {"message": st.one_of(st.just("m"), _json_value())},
                    optional={"@timestamp": _json_value(), "log": _json_value()},
                ),
                st.builds(_deep, st.sampled_from([200, 600, 1100]), st.just("dict")),
                _json_value(),
            )
        )
        lines += [_dumps(action), _dumps(doc)]
    return b"\n".join(lines) + b"\n"


@st.composite
def _body(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    """(the bytes sent, the Content-Encoding header or None)."""
    raw = draw(
        st.one_of(
            st.builds(_dumps, _family_body()),
            _bulk_body(),
            st.binary(max_size=64),
            st.sampled_from([b"", b"null", b"[", b"{}", b"[]", b"\xff\xfe", b'"\\ud800"', b"[" * 2000]),
        )
    )
    encoding = draw(
        st.sampled_from([None, None, b"gzip", b"deflate", b"br", b"zstd", b"gzip, deflate", b"\xff", b"x", b"snappy"])
    )
    how = draw(st.sampled_from(["plain", "compressed", "truncated"]))
    if encoding in (b"gzip", b"deflate") and how != "plain":
        packed = gzip.compress(raw) if encoding == b"gzip" else zlib.compress(raw)
        raw = packed if how == "compressed" else packed[: len(packed) // 2]
    return raw, encoding


def _query_string(params: list[tuple[str, str]]) -> str:
    def enc(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in params)


@st.composite
def _request(draw: st.DrawFn, routes: list[tuple[str, str]]) -> tuple[str, str, bytes, list[tuple[bytes, bytes]]]:
    method, template = draw(st.sampled_from(routes))
    if method == "*":
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]))
    path = re.sub(r"\{[^}]+\}", lambda _: draw(st.sampled_from(PATH_VALUES)), template)
    params = draw(st.lists(st.tuples(st.sampled_from(PARAM_NAMES), st.sampled_from(HOSTILE_TEXT)), max_size=4))
    body, encoding = draw(_body())
    headers: list[tuple[bytes, bytes]] = []
    auth = draw(st.sampled_from([TOKEN, TOKEN, TOKEN, b"Token admin-acme", b"Bearer \xff\xfe", b"Basic \xff==", None]))
    if auth is not None:
        headers.append((b"Authorization", auth))
    content_type = draw(
        st.sampled_from(
            [
                b"application/json",
                b"application/x-ndjson",
                b"application/x-protobuf",
                b"text/plain",
                b"application/json; charset=\xff",
                b"\xff/\xfe",
                None,
            ]
        )
    )
    if content_type is not None:
        headers.append((b"Content-Type", content_type))
    if encoding is not None:
        headers.append((b"Content-Encoding", encoding))
    accept = draw(st.sampled_from([None, b"text/html", b"text/plain;q=0.5, */*;q=0", b"\xff"]))
    if accept is not None:
        headers.append((b"Accept", accept))
    query = _query_string(params)
    return method, path + ("?" + query if query else ""), body, headers


def _family_routes(server: LiveServer, family: str) -> list[tuple[str, str]]:
    return [r for r in server.routes if FAMILIES[family].search(r[1])]


def assert_healthy(server: LiveServer) -> None:
    """Ready, and a normal write followed by a read still works."""
    assert server.send("GET", "/readyz", None, [])[0] == 200
    line = {"@timestamp": format_rfc3339_ns(time.time_ns()), "message": "after fuzz", "labels": {"app": "health"}}
    status, body = server.send(
        "POST",
        "/api/v1/lines?refresh=wait_for",
        _dumps([line]),
        [(b"Authorization", TOKEN), (b"Content-Type", b"application/json")],
    )
    assert status == 200, body
    assert json.loads(body)["accepted"] == 1
    status, body = server.send("GET", "/api/v1/lines?labels.app=health&limit=1", None, [(b"Authorization", TOKEN)])
    assert status == 200, body
    assert json.loads(body)["lines"], body


def test_every_family_has_routes(live_server: LiveServer) -> None:
    for family in FAMILIES:
        assert _family_routes(live_server, family), family
    covered = {r for family in FAMILIES for r in _family_routes(live_server, family)}
    assert covered == set(live_server.routes), set(live_server.routes) - covered


@pytest.mark.parametrize("family", list(FAMILIES))
def test_no_server_error(live_server: LiveServer, family: str) -> None:
    routes = _family_routes(live_server, family)
    failures: list[str] = []
    answered: Counter[int] = Counter()  # this family's fuzzed requests only, not the health checks

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=EXAMPLES <= 100,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        method, path, body, headers = data.draw(_request(routes))
        status, answer = live_server.send(method, path, body, headers)
        answered[status] += 1
        if status >= 500 and not (status == 503 and path.startswith("/readyz")):
            failures.append(f"{status} {method} {path[:200]} {headers} {body[:200]!r} -> {answer[:300]!r}")
        assert KEEP_GOING or status < 500, failures[-1]

    run()
    print(f"\nfuzz {family}: requests={answered.total()} statuses={dict(sorted(answered.items()))}")
    assert not failures, "\n".join(failures)
    # The run reached the service, and its hostile input was refused rather than accepted: most
    # drawn requests are malformed (each family refuses 40-59 of the default 60, derandomized).
    refused = sum(n for status, n in answered.items() if 400 <= status < 500)
    assert answered.total() >= min(EXAMPLES, 10), answered
    assert refused >= answered.total() // 4, answered
    assert_healthy(live_server)
