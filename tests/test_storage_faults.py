"""Elasticsearch going away and coming back, through a TCP proxy in front of the real server."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlparse

import pytest

from logriver.app import create_app
from tests.helpers import auth, ts


class SwitchableProxy:
    """Forwards TCP to Elasticsearch while up; refuses connections while down."""

    def __init__(self, target: str):
        parsed = urlparse(target)
        self.target = (parsed.hostname, parsed.port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server: asyncio.AbstractServer | None = None
        self.pipes: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for task in list(self.pipes):
            task.cancel()

    async def _connect(self, reader, writer) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    @staticmethod
    async def _pipe(source, sink) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sink.close()


async def wait_for_status(client, path: str, status: int, seconds: float = 30) -> None:
    for _ in range(int(seconds * 10)):
        if (await client.get(path)).status == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never answered {status}")


@pytest.fixture
async def proxy(es_url):
    proxy = SwitchableProxy(es_url)
    yield proxy
    await proxy.down()


async def test_starts_without_storage_then_recovers_and_degrades(aiohttp_client, proxy, settings, token_store, es):
    client = await aiohttp_client(create_app(settings, token_store, proxy.url))
    assert (await client.get("/healthz")).status == 200
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503 and not_ready.headers["Retry-After"] == str(settings.retry_after_seconds)
    body = {"labels": {"f": "1"}, "lines": [{"@timestamp": ts(), "message": "m"}]}
    refused = await client.post("/api/v1/lines", json=body, headers=auth())
    assert refused.status == 503 and "Retry-After" in refused.headers
    assert (await refused.json())["error"]["type"] == "storage_unavailable"
    assert (await client.get("/api/v1/lines", headers=auth())).status == 503

    await proxy.up()
    await wait_for_status(client, "/readyz", 200)
    stored = await client.post("/api/v1/lines", json=body, headers=auth(), params={"refresh": "wait_for"})
    assert (await stored.json())["accepted"] == 1

    await proxy.down()
    lost = await client.post("/api/v1/lines", json=body, headers=auth())
    assert lost.status in (503, 504) and "Retry-After" in lost.headers
    error = (await lost.json())["error"]
    assert "Traceback" not in error["message"] and "127.0.0.1" not in error["message"]
    await wait_for_status(client, "/readyz", 503)

    await proxy.up()
    await wait_for_status(client, "/readyz", 200)
    retried = await client.post("/api/v1/lines", json=body, headers=auth(), params={"refresh": "wait_for"})
    assert (await retried.json())["accepted"] == 1
    lines = await client.get("/api/v1/lines", params={"labels.f": "1"}, headers=auth())
    assert len((await lines.json())["lines"]) == 1, "the retried request must not duplicate the line"
