"""A real server on a real port, shared by the fuzz and schema tests of one module."""

from __future__ import annotations

import asyncio
import http.client
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from elasticsearch import Elasticsearch

from logriver.app import SERVER_OPTIONS, create_app
from logriver.core.auth import TokenStore
from logriver.core.settings import Settings
from tests.conftest import TOKENS


@dataclass
class LiveServer:
    """Where the server listens, and the status codes it answered."""

    host: str
    port: int
    routes: list[tuple[str, str]] = field(default_factory=list)  # (method, path template)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def send(self, method: str, path: str, body: bytes | None, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
        """One request through http.client, which lets headers carry arbitrary bytes."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            names = {name.lower() for name, _ in headers}
            for name, value in headers:
                conn.putheader(name, value)
            if b"content-length" not in names:
                conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders(body or b"")
            response = conn.getresponse()
            # A live tail answers 200 and then streams for as long as it may: its status is enough.
            streaming = response.getheader("Content-Type", "").startswith("text/event-stream")
            data = b"" if streaming else response.read()
        except http.client.IncompleteRead as exc:
            # A body cut short after the status line is a server failure the status hides.
            return 599, exc.partial
        except TimeoutError:
            return 598, b"no answer within the client's timeout"
        finally:
            conn.close()
        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        return response.status, data


def _serve(app: web.Application, started: threading.Event, stop: threading.Event, box: list[int]) -> None:
    async def run() -> None:
        runner = web.AppRunner(app, handle_signals=False, **SERVER_OPTIONS)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box.append(runner.addresses[0][1])
        started.set()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await runner.cleanup()

    asyncio.run(run())


@pytest.fixture(scope="module")
def live_server(es_url: str) -> Iterator[LiveServer]:
    """The whole app on 127.0.0.1 with a port of its own and an index prefix of its own."""
    with running_server(es_url) as server:
        yield server


@contextmanager
def running_server(es_url: str, **overrides: Any) -> Iterator[LiveServer]:
    """The app in a thread of its own, with the test settings and `overrides`, until the block ends."""
    prefix = f"lrt-{secrets.token_hex(5)}"
    settings = Settings(
        es_url=es_url,
        index_prefix=prefix,
        token_secret="test-secret",
        index_refresh_interval="100ms",
        readiness_interval_seconds=0.2,
        tail_max_seconds=1,  # a tail answered to a generated request ends by itself
        **overrides,
    )
    app = create_app(settings, TokenStore(TOKENS), es_url)
    started, stop, box = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=_serve, args=(app, started, stop, box), daemon=True)
    thread.start()
    assert started.wait(30), "the server did not start"
    routes = sorted({(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None})
    server = LiveServer("127.0.0.1", box[0], routes)
    deadline = time.monotonic() + 30
    while server.send("GET", "/readyz", None, [])[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield server
    finally:
        stop.set()
        thread.join(30)
        es = Elasticsearch(es_url)
        es.options(ignore_status=404).indices.delete(index=f"{prefix}-*", expand_wildcards="all")
        es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")
        es.close()
