"""The native API against its own OpenAPI description, with schemathesis over a real port."""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.fuzz.conftest import LiveServer

EXAMPLES = int(os.environ.get("LOGRIVER_FUZZ_EXAMPLES", "60")) // 3 or 1
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
NATIVE_ROUTES = {
    ("POST", "/api/v1/lines"),
    ("GET", "/api/v1/lines"),
    ("DELETE", "/api/v1/lines"),
    ("GET", "/api/v1/lines/{line_id}"),
    ("GET", "/api/v1/lines/{line_id}/context"),
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/streams"),
    ("PUT", "/api/v1/streams"),
    ("GET", "/api/v1/tail"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/openapi.json"),
}


@pytest.fixture(scope="module")
def described(live_server: LiveServer) -> dict:
    status, body = live_server.send("GET", "/api/v1/openapi.json", None, [])
    assert status == 200
    return json.loads(body)


def test_description_covers_every_native_route(live_server: LiveServer, described: dict) -> None:
    assert described["openapi"].startswith("3.1")
    listed = {(method.upper(), path) for path, ops in described["paths"].items() for method in ops}
    assert listed == NATIVE_ROUTES
    native = {(m, p) for m, p in live_server.routes if m != "HEAD" and (p.startswith("/api/v1/") or p.endswith("z"))}
    assert native == NATIVE_ROUTES
    error = described["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorBody")


def test_description_is_valid_openapi(described: dict) -> None:
    schemathesis.openapi.from_dict(described).validate()


@pytest.mark.parametrize("operation", sorted(f"{m} {p}" for m, p in NATIVE_ROUTES))
def test_responses_match_the_description(live_server: LiveServer, described: dict, operation: str) -> None:
    schema = schemathesis.openapi.from_dict(described)
    method, path = operation.split(" ", 1)
    api_operation = schema[path][method]
    strategy = api_operation.as_strategy(headers={"Authorization": "Bearer admin-acme"})

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy)
        case.call_and_validate(base_url=live_server.url, checks=CHECKS, timeout=30)

    run()
