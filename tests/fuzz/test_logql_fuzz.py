"""Hypothesis-generated LogQL and Loki parameters against the live server: never a 5xx."""

from __future__ import annotations

import json
import os
import time
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logriver.core.timeutil import format_rfc3339_ns
from tests.adapters.loki.logql_strategies import NUMBERS, QUERIES, TIMES
from tests.fuzz.conftest import LiveServer

EXAMPLES = int(os.environ.get("LOGRIVER_FUZZ_EXAMPLES", "60")) * 2
PATHS = [
    "/loki/api/v1/query_range",
    "/loki/api/v1/query",
    "/loki/api/v1/labels",
    "/loki/api/v1/label/app/values",
    "/loki/api/v1/series",
    "/loki/api/v1/index/stats",
    "/loki/api/v1/index/volume",
    "/loki/api/v1/index/volume_range",
    "/loki/api/v1/detected_fields",
    "/loki/api/v1/detected_labels",
]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes | None]:
    path = draw(st.sampled_from(PATHS))
    params: list[tuple[str, str]] = [("query", draw(QUERIES))]
    for name in ("start", "end", "time"):
        if draw(st.booleans()):
            params.append((name, draw(TIMES)))
    if draw(st.booleans()):
        params.append(("step", draw(st.one_of(NUMBERS, st.sampled_from(["60000ms", "0", "-1", "1e9", "abc"])))))
    if draw(st.booleans()):
        params.append(("limit", draw(st.sampled_from(["0", "1", "5000", "5001", "-3", "x", "1" * 30]))))
    if draw(st.booleans()):
        params.append(("direction", draw(st.sampled_from(["forward", "BACKWARD", "sideways", ""]))))
    if path.endswith("series"):
        params.append(("match[]", draw(QUERIES)))
    encoded = urllib.parse.urlencode(params)
    if draw(st.booleans()):
        return "POST", path, encoded.encode()
    return "GET", f"{path}?{encoded}", None


def _write_lines(server: LiveServer, headers: list[tuple[bytes, bytes]]) -> None:
    """Lines the generated queries can match, parse and fail to parse."""
    now = time.time_ns()
    lines = [
        {"@timestamp": format_rfc3339_ns(now - i * 10**9), "message": message, "labels": {"app": app, "level": level}}
        for i, (message, app, level) in enumerate(
            [('{"status": 503, "x": {"y": 1}}', "a", "error"), ("status=200 duration=1.5s size=2KB", "b", "info"),
             ('oops "unterminated', "a", "info"), ("", "x", "error")] * 5
        )
    ]  # fmt: skip
    body = json.dumps(lines).encode()
    status, answer = server.send(
        "POST", "/api/v1/lines?refresh=wait_for", body, [*headers, (b"Content-Type", b"application/json")]
    )
    assert status == 200, answer


def test_generated_logql_gets_no_server_error(live_server: LiveServer) -> None:
    failures: list[str] = []
    headers = [(b"Authorization", b"Bearer admin-acme")]
    _write_lines(live_server, headers)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(requests())
    def run(request: tuple[str, str, bytes | None]) -> None:
        method, path, body = request
        sent = headers + ([(b"Content-Type", b"application/x-www-form-urlencoded")] if body else [])
        status, answer = live_server.send(method, path, body, sent)
        if status >= 500:
            failures.append(f"{status} {method} {path[:300]} {body!r:.300} -> {answer[:300]!r}")
        assert status < 500, failures[-1]

    run()
    assert not failures, "\n".join(failures)
