"""Ingest through the API with 1, 2, ... workers on one port: the same lines, one way, per count."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from bench.cluster import Cluster
from bench.logs import ingest_batches
from bench.send import BenchError, api_sender, send_all, session
from bench.server import ServerProcess


@dataclass
class ScaleResult:
    workers: int
    tailed: bool  # a tail was open on the server: its poll rounds refresh the lines indices
    lines: int
    seconds: float
    retries: int
    server_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


async def measure_scale(
    cluster: Cluster, workers: int, lines: int, batch: int, concurrency: int, *, tailed: bool = False
) -> ScaleResult:
    """Write `lines` through `logriver serve --workers N`, ending with a refresh, and count them."""
    prefix = f"lrbench-scale-{secrets.token_hex(4)}"
    bodies = [(b.api_body(), len(b.lines)) for b in ingest_batches(lines, batch)]
    try:
        async with ServerProcess(cluster.url, prefix, workers=workers) as server, session(concurrency) as http:
            cpu_before = server.cpu_seconds()
            async with contextlib.AsyncExitStack() as stack:
                if tailed:
                    await stack.enter_async_context(_open_tail(server))
                seconds, retries = await send_all(api_sender(http, server.url, server.headers), bodies, concurrency)
            start = time.perf_counter()
            await cluster.refresh(prefix)
            seconds += time.perf_counter() - start
            cpu = server.cpu_seconds() - cpu_before
        stored = await cluster.count(prefix)
        if stored != lines:
            raise BenchError(f"lines lost with {workers} workers: sent {lines}, stored {stored}")
    finally:
        await cluster.delete_prefix(prefix)
    return ScaleResult(workers, tailed, lines, seconds, retries, cpu)


@contextlib.asynccontextmanager
async def _open_tail(server: ServerProcess) -> AsyncIterator[None]:
    """A tail on labels no bench line has: its worker polls (and refreshes) without sending anything."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/api/v1/tail", params={"labels.app": "no-such-app"}, headers=server.headers) as tail,
    ):
        if tail.status != 200:
            raise BenchError(f"the tail answered {tail.status}")
        yield
