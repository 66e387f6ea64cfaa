"""The two measured write clients: logriver's API and Elasticsearch `_bulk`, driven the same way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator

import aiohttp
import orjson

MAX_ATTEMPTS = 10
Sender = Callable[[bytes, int], Awaitable[int]]  # (body, lines in it) -> retries it took


class BenchError(RuntimeError):
    """The measured system answered wrongly: the figures of this run would be meaningless."""


def session(concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), timeout=aiohttp.ClientTimeout(total=600)
    )


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(min(0.2 * 2**attempt, 5.0))


def api_sender(http: aiohttp.ClientSession, base_url: str, headers: dict[str, str]) -> Sender:
    """POST /api/v1/lines; a 429/503 is retried whole, as the API asks clients to."""
    url = f"{base_url}/api/v1/lines"
    request_headers = {**headers, "Content-Type": "application/json"}

    async def send(body: bytes, lines: int) -> int:
        for attempt in range(MAX_ATTEMPTS):
            async with http.post(url, data=body, headers=request_headers) as response:
                status, payload = response.status, await response.read()
            if status in (429, 503):
                await _backoff(attempt)
                continue
            result = orjson.loads(payload) if status == 200 else None
            if result is None or result.get("accepted") != lines or result.get("rejected"):
                raise BenchError(f"the API answered {status}: {payload[:500]!r}")
            return attempt
        raise BenchError(f"the API kept answering {status} after {MAX_ATTEMPTS} attempts")

    return send


def es_bulk_sender(http: aiohttp.ClientSession, base_url: str, headers: dict[str, str]) -> Sender:
    """POST /es/_bulk of logriver's Elasticsearch-compatible adapter; a 429/503 is retried whole."""
    url = f"{base_url}/es/_bulk"
    request_headers = {**headers, "Content-Type": "application/x-ndjson"}

    async def send(body: bytes, lines: int) -> int:
        for attempt in range(MAX_ATTEMPTS):
            async with http.post(url, data=body, headers=request_headers) as response:
                status, payload = response.status, await response.read()
            if status in (429, 503):
                await _backoff(attempt)
                continue
            if status != 200 or orjson.loads(payload).get("errors"):
                raise BenchError(f"logriver's _bulk answered {status}: {payload[:500]!r}")
            return attempt
        raise BenchError(f"logriver's _bulk kept answering {status} after {MAX_ATTEMPTS} attempts")

    return send


def raw_sender(http: aiohttp.ClientSession, es_url: str) -> Sender:
    """POST /_bulk of `create` actions; rejected items are retried by resending the body (409 = stored)."""
    url = f"{es_url}/_bulk"
    headers = {"Content-Type": "application/x-ndjson"}

    async def send(body: bytes, lines: int) -> int:
        for attempt in range(MAX_ATTEMPTS):
            async with http.post(url, data=body, headers=headers) as response:
                status, payload = response.status, await response.read()
            if status in (429, 503):
                await _backoff(attempt)
                continue
            if status != 200:
                raise BenchError(f"_bulk answered {status}: {payload[:500]!r}")
            statuses = [next(iter(item.values()))["status"] for item in orjson.loads(payload)["items"]]
            stored = sum(1 for s in statuses if s == 201 or (s == 409 and attempt))
            if stored == lines:
                return attempt
            if any(s not in (201, 409, 429) for s in statuses):
                raise BenchError(f"_bulk rejected items: {payload[:500]!r}")
            await _backoff(attempt)
        raise BenchError(f"_bulk kept rejecting items after {MAX_ATTEMPTS} attempts")

    return send


async def send_all(send: Sender, bodies: Iterable[tuple[bytes, int]], concurrency: int) -> tuple[float, int]:
    """Send every body with `concurrency` clients pulling from one queue; (seconds, retries)."""
    queue: Iterator[tuple[bytes, int]] = iter(bodies)

    async def client() -> int:
        return sum([await send(body, lines) for body, lines in queue])

    start = time.perf_counter()
    retries = await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, sum(retries)
