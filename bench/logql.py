"""LogQL: Loki's query_range for a selector and a line filter vs the native search of the same lines.

One stream of N lines; both ask for the newest 100 lines containing a word, over the stream's
whole time range, through the API of one server process. `logql_ratio` is the median time of
the Loki query over the median time of the native search, measured alternately in one run.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from bench.cluster import Cluster
from bench.logs import stream_batches
from bench.send import BenchError, api_sender, send_all, session
from bench.server import ServerProcess

LOGQL_PREFIX = "lrbench-logql"
LABELS = {"app": "logql", "env": "bench"}
WORD = "timeout"  # in about 3% of the generated lines
LIMIT = 100
WARMUP = 5


@dataclass
class LogQLResult:
    lines: int
    native_seconds: list[float]
    logql_seconds: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.logql_seconds) / statistics.median(self.native_seconds)


async def measure_logql(cluster: Cluster, total: int, batch: int, concurrency: int, repeat: int) -> LogQLResult:
    await cluster.delete_prefix(LOGQL_PREFIX)
    try:
        async with ServerProcess(cluster.url, LOGQL_PREFIX) as server, session(concurrency) as http:
            send = api_sender(http, server.url, server.headers)
            bodies = ((b.api_body(), len(b.lines)) for b in stream_batches(LABELS, total, max(batch, 5000), seed=3))
            await send_all(send, bodies, concurrency)
            await cluster.refresh(LOGQL_PREFIX)
            if await cluster.count(LOGQL_PREFIX) != total:
                raise BenchError(f"logql stream: sent {total} lines, stored a different number")
            timer = _Timer(http, server)
            await timer.check()
            native, logql = await timer.run(repeat)
    finally:
        await cluster.delete_prefix(LOGQL_PREFIX)
    return LogQLResult(total, native, logql)


class _Timer:
    def __init__(self, http: aiohttp.ClientSession, server: ServerProcess):
        self.http = http
        self.server = server
        end = time.time_ns() + 60 * 10**9
        self.start, self.end = end - 3 * 3600 * 10**9, end
        selector = ", ".join(f'{k}="{v}"' for k, v in LABELS.items())
        self.cases = {
            "native": ("/api/v1/search", {"q": WORD, "limit": str(LIMIT), **{f"labels.{k}": v for k, v in LABELS.items()}}),  # noqa: E501
            "logql": ("/loki/api/v1/query_range", {"query": f'{{{selector}}} |= "{WORD}"', "limit": str(LIMIT),
                      "start": str(self.start), "end": str(self.end), "direction": "backward"}),
        }  # fmt: skip

    async def get(self, name: str) -> Any:
        path, params = self.cases[name]
        async with self.http.get(self.server.url + path, params=params, headers=self.server.headers) as response:
            body = await response.read()
            if response.status != 200:
                raise BenchError(f"GET {path} answered {response.status}: {body[:300]!r}")
        return orjson.loads(body)

    async def check(self) -> None:
        """Both answer the same 100 lines."""
        native = [hit["message"] for hit in (await self.get("native"))["hits"]]
        loki = await self.get("logql")
        entries = sorted((int(t), line) for s in loki["data"]["result"] for t, line in s["values"])
        logql = [line for _, line in reversed(entries)]
        if len(native) != LIMIT or native != logql:
            raise BenchError(f"native search and LogQL disagree: {len(native)} vs {len(logql)} lines")

    async def run(self, repeat: int) -> tuple[list[float], list[float]]:
        rng = random.Random(5)
        times: dict[str, list[float]] = {"native": [], "logql": []}
        names = list(times)
        for round_number in range(WARMUP + repeat):
            rng.shuffle(names)
            for name in names:
                started = time.perf_counter()
                await self.get(name)
                if round_number >= WARMUP:
                    times[name].append(time.perf_counter() - started)
        return times["native"], times["logql"]


def logql_lines(result: LogQLResult) -> list[str]:
    native_ms = statistics.median(result.native_seconds) * 1000
    logql_ms = statistics.median(result.logql_seconds) * 1000
    return [
        f"logql: one stream of {result.lines} lines, newest {LIMIT} containing {WORD!r}, {len(result.logql_seconds)} "
        f"timed requests each: native search median {native_ms:.1f} ms, Loki query_range median {logql_ms:.1f} ms",
        f"logql_ratio={result.ratio:.2f}",
    ]
