"""LOGRIVER_CORS_ORIGINS: preflights, headers on every answer (errors and the tail too), off by default."""

from __future__ import annotations

import dataclasses

import pytest

from tests.helpers import auth

ORIGIN = "https://viewer.example"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization",
}


@pytest.fixture
async def cors_api(make_api, settings):
    return await make_api(dataclasses.replace(settings, cors_origins=f"{ORIGIN}, https://other.example"))


@pytest.mark.parametrize("path", ["/api/v1/lines", "/api/v1/tail", "/api/v1/lines/abc/context", "/api/v1/streams"])
async def test_preflight_of_an_allowed_origin(cors_api, path):
    response = await cors_api.http.options(path, headers=PREFLIGHT)
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-auth-token", "content-type", "last-event-id"} <= allowed
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers.getall("Vary")


async def test_preflight_of_another_origin_gets_no_grant(cors_api):
    response = await cors_api.http.options("/api/v1/lines", headers=PREFLIGHT | {"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.status == 405


async def test_answers_and_errors_carry_the_grant(cors_api):
    ok = await cors_api.http.get("/api/v1/streams", headers=auth("read-acme") | {"Origin": ORIGIN})
    assert ok.status == 200
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Retry-After" in ok.headers["Access-Control-Expose-Headers"]
    denied = await cors_api.http.get("/api/v1/streams", headers={"Origin": ORIGIN})
    assert denied.status == 401
    assert denied.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_the_streamed_tail_carries_the_grant(cors_api):
    response = await cors_api.http.get("/api/v1/tail", headers=auth("read-acme") | {"Origin": ORIGIN})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    response.close()


async def test_no_cors_by_default(api):
    response = await api.http.options("/api/v1/lines", headers=PREFLIGHT)
    assert response.status == 405
    assert "Access-Control-Allow-Origin" not in response.headers
    plain = await api.http.get("/api/v1/streams", headers=auth("read-acme") | {"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in plain.headers
