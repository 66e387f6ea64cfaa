"""Memory under load: many concurrent writers against one `logriver serve`, its RSS and its answers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.cluster import Cluster
from bench.logs import ingest_batches
from bench.send import BenchError, session
from bench.server import ServerProcess

SETTLE_SECONDS = 5.0  # idle time before reading the resident size the load left behind
MAX_ATTEMPTS = 30


@dataclass
class MemoryResult:
    writers: int
    lines: int
    seconds: float
    statuses: Counter[int]
    latencies_ms: list[float] = field(default_factory=list)
    rss_before_mib: float = 0.0
    peak_rss_mib: float = 0.0
    rss_after_mib: float = 0.0

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _writer(
    http: aiohttp.ClientSession, server: ServerProcess, bodies: list[tuple[bytes, int]], result: MemoryResult
) -> None:
    """Send each body until accepted, waiting as Retry-After says, as the docs ask clients to."""
    headers = {**server.headers, "Content-Type": "application/json"}
    for body, lines in bodies:
        for _ in range(MAX_ATTEMPTS):
            start = time.perf_counter()
            async with http.post(f"{server.url}/api/v1/lines", data=body, headers=headers) as response:
                payload = await response.json(content_type=None)
                result.latencies_ms.append((time.perf_counter() - start) * 1000)
                result.statuses[response.status] += 1
                if response.status == 200:
                    if payload.get("accepted") != lines:
                        raise BenchError(f"lines rejected under load: {str(payload)[:300]}")
                    break
                if response.status not in (429, 503):
                    raise BenchError(f"the API answered {response.status}: {str(payload)[:300]}")
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        else:
            raise BenchError(f"a batch was refused {MAX_ATTEMPTS} times")


async def measure_memory(cluster: Cluster, writers: int, batches_each: int, batch: int, prefix: str) -> MemoryResult:
    """`writers` clients post `batches_each` batches of `batch` lines at once; every line must be stored."""
    lines = writers * batches_each * batch
    bodies = [(b.api_body(), len(b.lines)) for b in ingest_batches(lines, batch)]
    result = MemoryResult(writers, lines, 0.0, Counter())
    try:
        async with ServerProcess(cluster.url, prefix) as server, session(writers) as http:
            result.rss_before_mib = _rss_mib(server.pid)
            start = time.perf_counter()
            await asyncio.gather(*(_writer(http, server, bodies[i::writers], result) for i in range(writers)))
            result.seconds = time.perf_counter() - start
            result.peak_rss_mib = server.peak_rss_mib()
            await asyncio.sleep(SETTLE_SECONDS)
            result.rss_after_mib = _rss_mib(server.pid)
        await cluster.refresh(prefix)
        stored = await cluster.count(prefix)
        if stored != lines:
            raise BenchError(f"lines lost under load: sent {lines}, stored {stored}")
    finally:
        await cluster.delete_prefix(prefix)
    return result


def memory_lines(result: MemoryResult) -> list[str]:
    mix = " ".join(f"{status}:{count}" for status, count in sorted(result.statuses.items()))
    return [
        f"memory: {result.writers} writers, {result.lines} lines in {result.seconds:.1f} s "
        f"({result.lines / result.seconds:.0f} lines/s), all stored",
        f"  statuses {mix}; request latency p50 {result.percentile_ms(0.5):.0f} ms, "
        f"p99 {result.percentile_ms(0.99):.0f} ms",
        f"  server RSS before {result.rss_before_mib:.0f} MiB, peak {result.peak_rss_mib:.0f} MiB, "
        f"{SETTLE_SECONDS:.0f} s after {result.rss_after_mib:.0f} MiB",
        f"peak_rss_mib={result.peak_rss_mib:.0f}",
    ]
