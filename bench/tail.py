"""Live tail latency as a user sees it: from the answer to a POST to the line arriving over SSE.

One line every `interval` seconds is written to a stream; a tail follows that stream's labels.
With several workers the tail and the writes are made to go through different workers (the
`Logriver-Worker` response header says which process answered), so a line accepted by one
worker is delivered by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.cluster import Cluster
from bench.send import BenchError
from bench.server import ServerProcess
from logriver.core.timeutil import format_rfc3339_ns, now_ns

WORKER_HEADER = "Logriver-Worker"
FIND_WORKER_ATTEMPTS = 150  # 0.2 s apart: the other workers may still be starting


@dataclass
class TailResult:
    workers: int
    latencies: list[float] = field(default_factory=list)  # seconds, POST answer -> SSE line
    cross_worker: int = 0  # lines accepted by a worker other than the one tailing
    server_cpu_seconds: float = 0.0


async def _sse_messages(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[float, dict[str, Any]]]:
    """(arrival time, line) for every unnamed event; other events are skipped."""
    name, data = "message", b""
    async for raw in response.content:
        line = raw.rstrip(b"\n")
        if line.startswith(b"data:"):
            data = line[5:].strip()
        elif line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif not line:
            if data and name == "message":
                yield time.perf_counter(), orjson.loads(data)
            name, data = "message", b""


async def _writer_session(url: str, headers: dict[str, str], avoid: str | None) -> tuple[aiohttp.ClientSession, str]:
    """A one-connection session whose keep-alive connection is served by a worker other than `avoid`."""
    for _ in range(FIND_WORKER_ATTEMPTS):
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
        async with http.get(f"{url}/healthz", headers=headers) as response:
            worker = response.headers.get(WORKER_HEADER, "")
        if avoid is None or worker != avoid:
            return http, worker
        await http.close()
        await asyncio.sleep(0.2)
    raise BenchError(f"every connection landed on worker {avoid}; is --workers > 1 running?")


async def measure_tail(cluster: Cluster, workers: int, seconds: float, interval: float) -> TailResult:
    """Write one line every `interval` for `seconds`, tail it, and time each line end to end."""
    prefix = f"lrbench-tail-{secrets.token_hex(4)}"
    labels = {"app": "tail-bench", "run": prefix}
    result = TailResult(workers)
    try:
        async with ServerProcess(cluster.url, prefix, workers=workers) as server:
            cpu_before = server.cpu_seconds()
            await _run(server, labels, seconds, interval, result)
            result.server_cpu_seconds = server.cpu_seconds() - cpu_before
    finally:
        await cluster.delete_prefix(prefix)
    return result


async def _run(server: ServerProcess, labels: dict[str, str], seconds: float, interval: float, r: TailResult) -> None:
    params = {f"labels.{k}": v for k, v in labels.items()}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with (
        aiohttp.ClientSession(timeout=timeout) as reader,
        reader.get(f"{server.url}/api/v1/tail", params=params, headers=server.headers) as tail,
    ):
        if tail.status != 200:
            raise BenchError(f"the tail answered {tail.status}: {await tail.text()}")
        tail_worker = tail.headers.get(WORKER_HEADER, "")
        http, _ = await _writer_session(server.url, server.headers, tail_worker if r.workers > 1 else None)
        accepted: dict[str, float] = {}
        received: dict[str, float] = {}
        consumer = asyncio.create_task(_consume(tail, received))
        try:
            plan = _Schedule(labels, seconds, interval, tail_worker)
            await _write(http, server, plan, accepted, r)
            await _wait_all(accepted, received, consumer)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            await http.close()
    r.latencies = [received[m] - accepted[m] for m in accepted]


async def _consume(tail: aiohttp.ClientResponse, received: dict[str, float]) -> None:
    async for arrived, line in _sse_messages(tail):
        if line["message"] in received:
            raise BenchError(f"the tail sent {line['message']!r} twice")
        received[line["message"]] = arrived


@dataclass(frozen=True)
class _Schedule:
    labels: dict[str, str]
    seconds: float
    interval: float
    tail_worker: str


async def _write(
    http: aiohttp.ClientSession, server: ServerProcess, plan: _Schedule, accepted: dict[str, float], r: TailResult
) -> None:
    """One line per interval on a fixed schedule, so a slow answer does not stretch the run."""
    start = time.perf_counter()
    for n in range(int(plan.seconds / plan.interval)):
        await asyncio.sleep(max(0.0, start + n * plan.interval - time.perf_counter()))
        message = f"tail bench line {n:06d}"
        line = {"@timestamp": format_rfc3339_ns(now_ns()), "message": message}
        body = orjson.dumps({"labels": plan.labels, "lines": [line]})
        headers = {**server.headers, "Content-Type": "application/json"}
        async with http.post(f"{server.url}/api/v1/lines", data=body, headers=headers) as response:
            payload = await response.read()
            worker = response.headers.get(WORKER_HEADER, "")
        if response.status != 200 or orjson.loads(payload).get("accepted") != 1:
            raise BenchError(f"the API answered {response.status}: {payload[:300]!r}")
        accepted[message] = time.perf_counter()
        r.cross_worker += worker != plan.tail_worker


async def _wait_all(accepted: dict[str, float], received: dict[str, float], consumer: asyncio.Task[None]) -> None:
    deadline = time.perf_counter() + 30
    while not accepted.keys() <= received.keys():
        if consumer.done():
            consumer.result()
            raise BenchError("the tail ended early")
        if time.perf_counter() > deadline:
            missing = len(accepted.keys() - received.keys())
            raise BenchError(f"{missing} accepted lines never reached the tail")
        await asyncio.sleep(0.05)
