"""Streams at scale: the first page of the listing and a filtered page among many streams."""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field

import orjson

from bench.cluster import Cluster
from bench.report import percentile
from bench.send import BenchError, api_sender, send_all, session
from bench.server import ServerProcess
from logriver.core.timeutil import format_rfc3339_ns

STREAMS_TARGET_MS = 200  # p50 of a page, at most
BATCH = 5000  # streams per write request: one line each
PAGE_LIMIT = 100  # the viewer's page
WARMUP = 3


@dataclass
class StreamsResult:
    streams: int
    load_seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)  # case -> seconds


def _exe(n: int, salt: str) -> str:
    # Unique, and no value is a substring of another's distinctive middle part.
    return f"exe-{salt}-{n:07d}-{n * 7919 % 1000003:07d}"


def _bodies(count: int, salt: str) -> list[tuple[bytes, int]]:
    """One line per stream, stream n a millisecond newer than stream n-1."""
    now = time.time_ns()
    bodies = []
    for start in range(0, count, BATCH):
        lines = [
            {
                "labels": {"app": "streams-bench", "exe": _exe(n, salt), "stream": "stdout"},
                "@timestamp": format_rfc3339_ns(now - (count - n) * 1_000_000),
                "message": f"job {n} started",
            }
            for n in range(start, min(start + BATCH, count))
        ]
        bodies.append((orjson.dumps(lines), len(lines)))
    return bodies


async def measure_streams(cluster: Cluster, count: int, repeat: int) -> StreamsResult:
    """Write `count` streams (one line each) through the API, then time the two pages."""
    salt = secrets.token_hex(3)
    prefix = f"lrbench-{salt}-streams"
    try:
        async with ServerProcess(cluster.url, prefix) as server, session(4) as http:
            started = time.monotonic()
            await send_all(api_sender(http, server.url, server.headers), _bodies(count, salt), 4)
            await cluster.refresh(prefix)
            await cluster.client.indices.refresh(index=f"{prefix}-streams")  # the registry, too
            load = time.monotonic() - started
            url = f"{server.url}/api/v1/streams"

            async def page(params: dict[str, str], expect: int | None) -> float:
                began = time.perf_counter()
                async with http.get(url, params=params, headers=server.headers) as response:
                    body = await response.read()
                elapsed = time.perf_counter() - began
                found = orjson.loads(body).get("streams") if response.status == 200 else None
                if found is None or (expect is not None and len(found) != expect):
                    raise BenchError(f"GET /api/v1/streams {params} answered {response.status}: {body[:300]!r}")
                return elapsed

            cases = {
                "first": lambda: ({"limit": str(PAGE_LIMIT)}, PAGE_LIMIT),
                "filtered": lambda: _filtered(count, salt),
            }
            latencies: dict[str, list[float]] = {name: [] for name in cases}
            for round_number in range(WARMUP + repeat):
                for name in random.sample(list(cases), len(cases)):
                    params, expect = cases[name]()
                    elapsed = await page(params, expect)
                    if round_number >= WARMUP:
                        latencies[name].append(elapsed)
    finally:
        await cluster.delete_prefix(prefix)
    return StreamsResult(count, load, latencies)


def _filtered(count: int, salt: str) -> tuple[dict[str, str], int]:
    """Part of one stream's label value, as a person would type it in the viewer's filter box."""
    n = random.randrange(count)
    needle = _exe(n, salt).split("-", 2)[2].upper()  # `0004711-3720…`, case-insensitive
    return {"limit": str(PAGE_LIMIT), "match": needle}, 1


def streams_lines(result: StreamsResult) -> list[str]:
    out = [f"streams: {result.streams} streams written in {result.load_seconds:.1f} s, pages of {PAGE_LIMIT}"]
    for name, values in result.latencies.items():
        p50, p90 = percentile(values, 0.5) * 1000, percentile(values, 0.9) * 1000
        verdict = "met" if p50 <= STREAMS_TARGET_MS else "MISSED"
        out.append(
            f"  {name:<9} p50 {p50:7.1f} ms  p90 {p90:7.1f} ms  ({len(values)} requests; "
            f"target p50 <= {STREAMS_TARGET_MS} ms: {verdict})"
        )
    return out
