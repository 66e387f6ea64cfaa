"""Every API family answers every kind of error in its own envelope, through the real app.

One row per (family, status). The triggers are real wherever the family has one:
- 400, 401/403: a malformed parameter or body, a missing token, on the family's own routes.
- 404, 405: an unknown path and a wrong method under the paths the family owns, so the router's
  own refusals are shown to be rendered by the family and not by the native API.
- 413: a body over `max_request_bytes` on the family's routes that take a body. Scale, ModelArts
  and ABEJA take none, so a test-only route in that family reads its body with the shared reader.
- 429: Elasticsearch itself answers 429 to writes into an index with the
  `read_only_allow_delete` block (the flood-stage block), which the test puts on its own indices.
  Families with write routes write through them; the read-only families get a test-only route
  that registers a stream through the shared registry, the same call the native API makes.
- 503: a second app whose Elasticsearch URL is a closed port, as after a storage outage.
- 500: a bug has no honest trigger in working code, so a test-only route in the family raises one;
  the row checks that the detail stays in the log and the client gets an id.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from logriver.app import create_app
from logriver.core.web import SETTINGS, read_body
from logriver.services import SERVICES
from tests.helpers import auth, ts

CLOSED_PORT_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there
BODY_LIMIT = 4096
TOO_LARGE = b"x" * (BODY_LIMIT + 1)
A_WRITE = b"<a valid write of the family, timed when the test runs>"
SECRET = "secret detail of a bug"
NATIVE_RUN = "/api/v1"
ABEJA_RUN = "/organizations/acme/deployments/d1/runs/r1"
MODELARTS_EVENTS = "/v1/acme/services/s1/events"
SCALE_LOG = "/v6/job-executions/1/logs/combined/"
# Where the test-only routes go, per family: a path the family owns.
TEST_ROUTE_PREFIX = {
    "native": "/api/v1",
    "es": "/es",
    "iceprod": "/logs",
    "scale": "/v6",
    "modelarts": "/v1",
    "abeja": "/organizations",
    "loki": "/loki",
    "otlp": "/otlp",
    "loki_push": "/loki/api/v1/push",
}
LOKI_RANGE = "/loki/api/v1/query_range"


@dataclasses.dataclass(frozen=True)
class Call:
    method: str
    path: str
    token: str | None = "admin-acme"
    body: bytes | None = None
    setup: str = "ready"  # ready, write_blocked or no_storage


def _native(body: dict[str, Any], status: int) -> bool:
    error = body["error"]
    return set(body) == {"error"} and set(error) == {"type", "message", "details"} and bool(error["message"])


def _es(body: dict[str, Any], status: int) -> bool:
    error = body["error"]
    return body["status"] == status and error["root_cause"][0]["reason"] == error["reason"] and bool(error["type"])


def _iceprod(body: dict[str, Any], status: int) -> bool:
    return set(body) == {"code", "error"} and body["code"] == status and bool(body["error"])


def _scale(body: dict[str, Any], status: int) -> bool:
    return set(body) == {"detail"} and bool(body["detail"])


def _modelarts(body: dict[str, Any], status: int) -> bool:
    return set(body) == {"error_code", "error_msg"} and body["error_code"].startswith("ModelArts.")


def _abeja(body: dict[str, Any], status: int) -> bool:
    return set(body) == {"error", "error_description"} and bool(body["error_description"])


def _loki(body: dict[str, Any], status: int) -> bool:
    fields = {"status", "errorType", "error", "code", "message"}
    return set(body) == fields and body["status"] == "error" and body["code"] == status and bool(body["message"])


def _otlp(body: dict[str, Any], status: int) -> bool:
    # google.rpc.Status in OTLP JSON (the requests here are JSON).
    return set(body) == {"code", "message"} and isinstance(body["code"], int) and bool(body["message"])


def _loki_push(body: Any, status: int) -> bool:
    return isinstance(body, str) and body.endswith("\n") and bool(body.strip())


ENVELOPES: dict[str, Callable[[Any, int], bool]] = {
    "native": _native,
    "es": _es,
    "iceprod": _iceprod,
    "scale": _scale,
    "modelarts": _modelarts,
    "abeja": _abeja,
    "otlp": _otlp,
    "loki_push": _loki_push,
    "loki": _loki,
}

CASES: list[tuple[str, int, Call]] = [
    ("native", 400, Call("GET", f"{NATIVE_RUN}/lines?limit=many")),
    ("native", 401, Call("GET", f"{NATIVE_RUN}/lines", token=None)),
    ("native", 404, Call("GET", f"{NATIVE_RUN}/nowhere")),
    ("native", 405, Call("PATCH", f"{NATIVE_RUN}/lines")),
    ("native", 413, Call("POST", f"{NATIVE_RUN}/lines", body=TOO_LARGE)),
    ("native", 429, Call("POST", f"{NATIVE_RUN}/lines", setup="write_blocked")),
    ("native", 503, Call("GET", f"{NATIVE_RUN}/lines", setup="no_storage")),
    ("native", 500, Call("GET", "/api/v1/_test/bug")),
    ("es", 400, Call("POST", "/es/_bulk?refresh=soon", body=b"")),
    ("es", 401, Call("GET", "/es/_license", token=None)),
    ("es", 404, Call("GET", "/es/logs-x/_search")),
    ("es", 405, Call("POST", "/es/_license")),
    ("es", 413, Call("POST", "/es/_bulk", body=TOO_LARGE)),
    ("es", 429, Call("POST", "/es/_bulk", setup="write_blocked")),
    ("es", 503, Call("POST", "/es/_bulk", body=b'{"create":{}}\n{"message":"m"}\n', setup="no_storage")),
    ("es", 500, Call("GET", "/es/_test/bug")),
    ("iceprod", 400, Call("POST", "/logs", body=b"{not json")),
    ("iceprod", 403, Call("GET", "/logs", token=None)),
    ("iceprod", 404, Call("GET", "/datasets/d1/nowhere")),
    ("iceprod", 405, Call("PUT", "/logs")),
    ("iceprod", 413, Call("POST", "/logs", body=TOO_LARGE)),
    ("iceprod", 429, Call("POST", "/logs", setup="write_blocked")),
    ("iceprod", 503, Call("GET", "/logs", setup="no_storage")),
    ("iceprod", 500, Call("GET", "/logs/_test/bug")),
    ("scale", 400, Call("GET", f"{SCALE_LOG}?started=yesterday-ish")),
    ("scale", 403, Call("GET", SCALE_LOG, token=None)),
    ("scale", 404, Call("GET", "/v6/nowhere")),
    ("scale", 405, Call("POST", SCALE_LOG)),
    ("scale", 413, Call("POST", "/v6/_test/body", body=TOO_LARGE)),
    ("scale", 429, Call("POST", "/v6/_test/stream", setup="write_blocked")),
    ("scale", 503, Call("GET", SCALE_LOG, setup="no_storage")),
    ("scale", 500, Call("GET", "/v6/_test/bug")),
    ("modelarts", 400, Call("GET", f"{MODELARTS_EVENTS}?limit=0")),
    ("modelarts", 401, Call("GET", MODELARTS_EVENTS, token=None)),
    ("modelarts", 404, Call("GET", "/v1/nowhere")),
    ("modelarts", 405, Call("POST", MODELARTS_EVENTS)),
    ("modelarts", 413, Call("POST", "/v1/_test/body", body=TOO_LARGE)),
    ("modelarts", 429, Call("POST", "/v1/_test/stream", setup="write_blocked")),
    ("modelarts", 503, Call("GET", MODELARTS_EVENTS, setup="no_storage")),
    ("modelarts", 500, Call("GET", "/v1/_test/bug")),
    ("abeja", 400, Call("GET", f"{ABEJA_RUN}/logs?limit=0")),
    ("abeja", 401, Call("GET", f"{ABEJA_RUN}/logs", token=None)),
    ("abeja", 404, Call("GET", "/organizations/nowhere")),
    ("abeja", 405, Call("POST", f"{ABEJA_RUN}/logs")),
    ("abeja", 413, Call("POST", "/organizations/_test/body", body=TOO_LARGE)),
    ("abeja", 429, Call("POST", "/organizations/_test/stream", setup="write_blocked")),
    ("abeja", 503, Call("GET", f"{ABEJA_RUN}/logs", setup="no_storage")),
    ("abeja", 500, Call("GET", "/organizations/_test/bug")),
    ("loki", 400, Call("GET", LOKI_RANGE + "?query=%7Bapp%3D%22x%22%7D%20%7C%20unwrap%20n")),
    ("loki", 401, Call("GET", LOKI_RANGE + "?query=%7Bapp%3D%22x%22%7D", token=None)),
    ("loki", 404, Call("GET", "/loki/api/v1/nowhere")),
    ("loki", 405, Call("PUT", LOKI_RANGE)),
    ("loki", 413, Call("POST", "/loki/_test/body", body=TOO_LARGE)),
    ("loki", 429, Call("POST", "/loki/_test/stream", setup="write_blocked")),
    ("loki", 503, Call("GET", LOKI_RANGE + "?query=%7Bapp%3D%22x%22%7D", setup="no_storage")),
    ("loki", 500, Call("GET", "/loki/_test/bug")),
    ("otlp", 400, Call("POST", "/otlp/v1/logs", body=b"{not json")),
    ("otlp", 401, Call("POST", "/v1/logs", token=None)),
    ("otlp", 404, Call("GET", "/otlp/nowhere")),
    ("otlp", 405, Call("GET", "/v1/logs")),
    ("otlp", 413, Call("POST", "/otlp/v1/logs", body=TOO_LARGE)),
    # Storage pushing back (Elasticsearch's 429) is a 503: every OTLP exporter retries that (docs/otlp.md).
    ("otlp", 503, Call("POST", "/otlp/v1/logs", setup="write_blocked")),
    ("otlp", 503, Call("POST", "/v1/logs", body=A_WRITE, setup="no_storage")),
    ("otlp", 500, Call("GET", "/otlp/_test/bug")),
    ("loki_push", 400, Call("POST", "/loki/api/v1/push", body=b"{not json")),
    ("loki_push", 401, Call("POST", "/loki/api/v1/push", token=None)),
    ("loki_push", 404, Call("GET", "/loki/api/v1/push/nowhere")),
    ("loki_push", 405, Call("GET", "/loki/api/v1/push")),
    ("loki_push", 413, Call("POST", "/loki/api/v1/push", body=TOO_LARGE)),
    ("loki_push", 429, Call("POST", "/loki/api/v1/push", setup="write_blocked")),
    ("loki_push", 503, Call("POST", "/loki/api/v1/push", body=A_WRITE, setup="no_storage")),
    ("loki_push", 500, Call("GET", "/loki/api/v1/push/_test/bug")),
]


def _write_body(family: str) -> bytes:
    """A valid write for the family's own write route, timed now like the blocked index."""
    if family == "es":
        return b'{"create":{"_index":"blocked"}}\n{"message":"m","@timestamp":"%s"}\n' % ts().encode()
    if family == "iceprod":
        return b'{"name": "stdout", "data": "d", "dataset_id": "d1", "task_id": "t1"}'
    if family == "otlp":
        record = b'{"timeUnixNano": "%d", "body": {"stringValue": "m"}}' % time.time_ns()
        return b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [%s]}]}]}' % record
    if family == "loki_push":
        return b'{"streams": [{"stream": {"app": "blocked"}, "values": [["%d", "m"]]}]}' % time.time_ns()
    return b'{"labels": {"app": "blocked"}, "lines": [{"@timestamp": "%s", "message": "m"}]}' % ts().encode()


async def _bug_handler(request: web.Request) -> web.Response:
    raise RuntimeError(SECRET)


async def _body_handler(request: web.Request) -> web.Response:
    await read_body(request, request.app[SETTINGS])
    return web.Response(status=204)


async def _stream_handler(request: web.Request) -> web.Response:
    await request.app[SERVICES].registry.put_stream("acme", {"app": "blocked"}, {})
    return web.Response(status=204)


def add_test_routes(prefix: str, family: web.Application) -> None:
    """Test-only routes inside one application of each family, under a path it owns."""
    if prefix in TEST_ROUTE_PREFIX.values():
        family.router.add_get("/_test/bug", _bug_handler)
        family.router.add_post("/_test/body", _body_handler)
        family.router.add_post("/_test/stream", _stream_handler)


async def _start(aiohttp_client, make_api, settings, token_store, setup: str):
    if setup == "no_storage":
        return await aiohttp_client(create_app(settings, token_store, CLOSED_PORT_URL, extend_family=add_test_routes))
    api = await make_api(settings, extend_family=add_test_routes)
    if setup == "write_blocked":
        await api.post_lines({"labels": {"app": "blocked"}, "lines": [{"@timestamp": ts(), "message": "first"}]})
    return api.http


async def _block_writes(es, index_prefix: str) -> None:
    # The flood-stage block: Elasticsearch answers writes into these indices with 429.
    await es.indices.put_settings(index=f"{index_prefix}-*", settings={"index.blocks.read_only_allow_delete": True})


@pytest.mark.parametrize("family,status,call", CASES, ids=[f"{f}-{s}" for f, s, _ in CASES])
async def test_every_family_answers_errors_in_its_envelope(
    aiohttp_client, make_api, es, index_prefix, settings, token_store, family, status, call
):
    limited = dataclasses.replace(settings, max_request_bytes=BODY_LIMIT)
    client = await _start(aiohttp_client, make_api, limited, token_store, call.setup)
    body = call.body
    if call.setup == "write_blocked":
        await _block_writes(es, index_prefix)
    if call.setup == "write_blocked" or body == A_WRITE:
        body = _write_body(family)
    headers = {"Content-Type": "application/json", **(auth(call.token) if call.token else {})}
    response = await client.request(call.method, call.path, data=body, headers=headers)
    answer = await response.text() if family == "loki_push" else await response.json()
    assert response.status == status, answer
    assert ENVELOPES[family](answer, status), answer
    assert ("Retry-After" in response.headers) == (status in (429, 503)), response.headers
    if status == 500:
        assert SECRET not in str(answer)
        assert re.search(r"\b[0-9a-f]{16}\b", str(answer)), "an error id the client can quote"
    if family == "es":
        assert response.headers["X-Elastic-Product"] == "Elasticsearch"
