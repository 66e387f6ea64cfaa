"""The error middleware and the Elasticsearch error translation, as table tests."""

from __future__ import annotations

import elastic_transport
import pytest
from aiohttp import web
from elasticsearch import ApiError

from logriver.core import errors
from logriver.core.auth import TokenStore
from logriver.core.settings import Settings
from logriver.core.storage import storage_error, translate_es_errors
from logriver.core.web import SETTINGS, TOKENS, error_middleware, native_error_response


def _app(exc: BaseException) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        raise exc

    app = web.Application(middlewares=[error_middleware(native_error_response)])
    app[SETTINGS] = Settings(retry_after_seconds=7)
    app[TOKENS] = TokenStore({})
    app.router.add_get("/", handler)
    return app


@pytest.mark.parametrize(
    "exc,status,kind,retry",
    [
        (errors.ValidationError("bad"), 400, "validation_error", False),
        (errors.InvalidTokenError("bad"), 400, "invalid_token", False),
        (errors.InvalidQueryError("bad"), 400, "invalid_query", False),
        (errors.UnauthorizedError("who"), 401, "unauthorized", False),
        (errors.ForbiddenError("no"), 403, "forbidden", False),
        (errors.NotFoundError("none"), 404, "not_found", False),
        (errors.request_too_large(10), 413, "request_too_large", False),
        (errors.OverloadedError("busy"), 429, "overloaded", True),
        (errors.StorageUnavailableError("down"), 503, "storage_unavailable", True),
        (errors.StorageTimeoutError("slow"), 504, "storage_timeout", True),
        (errors.LogriverError("secret detail"), 500, "internal_error", False),
        (KeyError("secret detail"), 500, "internal_error", False),
        (web.HTTPMethodNotAllowed("GET", ["POST"]), 405, "method_not_allowed", False),
    ],
)
async def test_error_envelope(aiohttp_client, exc, status, kind, retry):
    client = await aiohttp_client(_app(exc))
    response = await client.get("/")
    body = await response.json()
    assert response.status == status
    assert body["error"]["type"] == kind and body["error"]["message"]
    assert ("Retry-After" in response.headers) == retry
    if status == 500:
        assert "secret detail" not in body["error"]["message"]
        assert len(body["error"]["details"]["error_id"]) == 16


async def test_unknown_route_uses_the_envelope(aiohttp_client):
    client = await aiohttp_client(_app(KeyError()))
    response = await client.get("/nowhere")
    assert response.status == 404 and (await response.json())["error"]["type"] == "not_found"


def _api_error(status: int, cause: str = "x") -> ApiError:
    meta = elastic_transport.ApiResponseMeta(status, "HTTP/1.1", elastic_transport.HttpHeaders(), 0.0, None)
    return ApiError("err", meta, {"error": {"root_cause": [{"type": cause, "reason": "why"}]}})


@pytest.mark.parametrize(
    "raised,expected",
    [
        (elastic_transport.ConnectionError("refused"), errors.StorageUnavailableError),
        (elastic_transport.ConnectionTimeout("slow"), errors.StorageTimeoutError),
        (_api_error(429), errors.OverloadedError),
        (_api_error(503), errors.StorageUnavailableError),
        (_api_error(400, "query_shard_exception"), errors.InvalidQueryError),
        (_api_error(400, "mapper_parsing_exception"), errors.LogriverError),
        # A missing index that a read needed is unavailable storage (503), never a silent gap (docs/cluster.md).
        (_api_error(404, "index_not_found_exception"), errors.StorageUnavailableError),
    ],
)
def test_translate_es_errors(raised, expected):
    with pytest.raises(expected) as caught, translate_es_errors("testing"):
        raise raised
    assert type(caught.value) is expected


@pytest.mark.parametrize(
    "status,cause,expected",
    [
        (429, "es_rejected_execution_exception", errors.OverloadedError),
        (502, "x", errors.StorageUnavailableError),
        (503, "x", errors.StorageUnavailableError),
        (400, "query_shard_exception", errors.InvalidQueryError),
        (400, "mapper_parsing_exception", errors.LogriverError),
        (500, "x", errors.LogriverError),
    ],
)
def test_storage_error_of_an_msearch_item(status, cause, expected):
    """One msearch item fails on its own; it is translated like a whole request that failed."""
    item = {"status": status, "error": {"root_cause": [{"type": cause, "reason": "why"}], "type": cause}}
    error = storage_error(status, item, "polling")
    assert type(error) is expected
    if expected is errors.InvalidQueryError:
        assert "why" in error.message
