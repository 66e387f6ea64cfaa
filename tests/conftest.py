"""Test fixtures: one real Elasticsearch per session, one index prefix per test."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestServer
from elasticsearch import AsyncElasticsearch

from logriver.app import SERVER_OPTIONS, FamilyHook, create_app
from logriver.core.auth import Principal, TokenStore
from logriver.core.errors import LogriverError
from logriver.core.settings import Settings
from logriver.core.web import ErrorRenderer
from logriver.esruntime.cluster import LocalCluster
from logriver.esruntime.secured import SecuredNode
from tests.esnodes import SessionNodes, held_port, session_nodes
from tests.helpers import ApiClient

TOKENS = {
    "admin-acme": Principal("acme", frozenset({"admin"})),
    "read-acme": Principal("acme", frozenset({"read"})),
    "write-acme": Principal("acme", frozenset({"write"})),
    "rw-acme": Principal("acme", frozenset({"read", "write"})),
    "admin-other": Principal("other", frozenset({"admin"})),
}


@pytest.fixture(scope="session")
def es_nodes() -> Iterator[SessionNodes]:
    """This session's node home and block of ports (tests/esnodes.py); nodes are made from it on demand."""
    with session_nodes(os.environ) as nodes:
        yield nodes


@pytest.fixture
def app_port() -> Iterator[int]:
    """A port for a server the test starts, held (never picked free and released) until the test ends."""
    with held_port() as port:
        yield port


@pytest.fixture(scope="session")
def es_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """LOGRIVER_TEST_ES_URL when given; otherwise a node of this session's own, stopped at its end.

    LOGRIVER_ES_URL is never read: the cluster a developer works with is not one tests write to.
    """
    configured = os.environ.get("LOGRIVER_TEST_ES_URL", "").strip()
    if configured:
        yield configured
        return
    local = request.getfixturevalue("es_nodes").single()
    url = local.start()
    yield url
    local.stop()


@pytest.fixture(scope="session")
def cluster(es_nodes: SessionNodes) -> Iterator[LocalCluster]:
    """A three-node cluster of this session's own, with bounded heaps; stopped (by pid) at the end."""
    local = es_nodes.cluster(3)
    local.start()
    yield local
    local.stop()


@pytest.fixture
async def cluster_settings(cluster: LocalCluster) -> AsyncIterator[Settings]:
    """Settings for an app on `cluster`, with a prefix of its own that is deleted afterwards."""
    settings = Settings(
        es_url=",".join(cluster.urls),
        index_prefix=f"lrt-{secrets.token_hex(5)}",
        index_shards=2,
        token_secret="test-secret",
        index_refresh_interval="200ms",
        readiness_interval_seconds=0.2,
        tail_poll_seconds=0.2,
    )
    yield settings
    client = AsyncElasticsearch(cluster.urls)
    await client.options(ignore_status=404).indices.delete(index=f"{settings.index_prefix}-*")
    await client.options(ignore_status=404).indices.delete_index_template(name=f"{settings.index_prefix}-*")
    await client.close()


@pytest.fixture(scope="session")
def secured(es_nodes: SessionNodes) -> Iterator[SecuredNode]:
    """A secured single node (HTTPS, users) of this session's own."""
    node = es_nodes.secured()
    node.start()
    yield node
    node.stop()


@pytest.fixture
def index_prefix() -> str:
    return f"lrt-{secrets.token_hex(5)}"


@pytest.fixture
def settings(es_url: str, index_prefix: str) -> Settings:
    return Settings(
        es_url=es_url,
        index_prefix=index_prefix,
        token_secret="test-secret",
        index_refresh_interval="100ms",  # ?refresh=wait_for returns sooner
        readiness_interval_seconds=0.2,
        retention_interval_seconds=3600,
    )


@pytest.fixture
def token_store() -> TokenStore:
    return TokenStore(TOKENS)


@pytest.fixture
async def es(es_url: str, index_prefix: str) -> AsyncIterator[AsyncElasticsearch]:
    """A raw client for assertions; deletes everything the test's prefix created."""
    client = AsyncElasticsearch(es_url)
    yield client
    await client.options(ignore_status=404).indices.delete(index=f"{index_prefix}-*", expand_wildcards="all")
    await client.options(ignore_status=404).indices.delete_index_template(name=f"{index_prefix}-*")
    await client.close()


@pytest.fixture
def aiohttp_client(aiohttp_client: Any) -> Any:
    """The plugin's test client, its server made the way `logriver serve` makes one (SERVER_OPTIONS)."""

    async def start(app: Any, *, server_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if isinstance(app, web.Application):
            # TestServer() drops options it does not know; start_server() hands them to the runner.
            app = TestServer(app, **(server_kwargs or {}))
            await app.start_server(**SERVER_OPTIONS)
        return await aiohttp_client(app, **kwargs)

    return start


@pytest.fixture
async def make_api(aiohttp_client, es, settings, token_store, es_url):
    """Start the real app against the real Elasticsearch with the given settings."""

    async def make(custom: Settings | None = None, extend_family: FamilyHook | None = None) -> ApiClient:
        app = create_app(custom or settings, token_store, es_url, extend_family=extend_family)
        client = await aiohttp_client(app)
        ready = await client.get("/readyz")
        deadline = asyncio.get_running_loop().time() + 30
        while ready.status != 200 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            ready = await client.get("/readyz")
        assert ready.status == 200, "storage did not become ready"
        return ApiClient(client)

    return make


@pytest.fixture
def rendered_error(aiohttp_client, settings, token_store, es_url):
    """What a family's renderer answers for an error, for a real request inside that family's application."""

    async def render(prefix: str, renderer: ErrorRenderer, error: LogriverError, **overrides: Any) -> ClientResponse:
        async def handler(request: web.Request) -> web.StreamResponse:
            return renderer(error, request)

        def add_route(mount: str, family: web.Application) -> None:
            if mount == prefix:
                family.router.add_get("/_test/error", handler)

        app = create_app(dataclasses.replace(settings, **overrides), token_store, es_url, extend_family=add_route)
        return await (await aiohttp_client(app)).get(f"{prefix}/_test/error")

    return render


@pytest.fixture
async def api(make_api) -> ApiClient:
    return await make_api()


NODE_FIXTURES = frozenset({"es_url", "es_nodes", "cluster", "secured"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches Elasticsearch, so `-m "not es"` runs the pure ones alone and starts no node."""
    for item in items:
        if NODE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.es)
