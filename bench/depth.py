"""Depth: page latency at the ends of one long stream vs a million lines in, all through the API."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.cluster import Cluster
from bench.logs import TENANT, stream_batches
from bench.send import BenchError, api_sender, send_all, session
from bench.server import ServerProcess
from logriver.query.cursor import SortKey
from logriver.query.reader import LINE_SOURCE, LineQuery, build_filter, slice_body, sort_clause

DEPTH_PREFIX = "lrbench-depth"
LABELS = {"app": "deep", "env": "bench", "host": "depth-01"}
MARGIN = 10000  # lines beyond the depth, so the deep pages are full pages
WALK_LIMIT = 10000  # the API's largest page: the cheapest honest way to a deep token
PAGE_LIMIT = 100
WARMUP = 5
SEARCH_WORD = "processed"  # in about a third of the bench's lines
SEARCH_MAX_TOTAL = 10000  # the service's default search_max_total
Request = Callable[[], Awaitable[bytes]]


@dataclass
class DepthResult:
    depth: int
    stream_lines: int
    loaded_seconds: float | None  # None: reused from an earlier --keep run
    walk_seconds: float
    walk_pages: int
    latencies: dict[str, list[float]] = field(default_factory=dict)  # case -> seconds


async def prepare_stream(cluster: Cluster, depth: int) -> bool:
    """True when an earlier --keep run left exactly this stream; otherwise clear the prefix."""
    if await cluster.count(DEPTH_PREFIX) == depth + MARGIN:
        return True
    await cluster.delete_prefix(DEPTH_PREFIX)
    return False


async def measure_depth(cluster: Cluster, depth: int, batch: int, concurrency: int, repeat: int) -> DepthResult:
    """Load (unless kept), walk to the deep tokens, then time pages at the ends and at depth."""
    total = depth + MARGIN
    reused = await prepare_stream(cluster, depth)
    async with ServerProcess(cluster.url, DEPTH_PREFIX) as server, session(concurrency) as http:
        loaded = None if reused else await _load(cluster, server, http, total, batch, concurrency)
        walk = _Walk(http, server)
        deep_newer, deep_older, walk_seconds = await walk.to_depth(depth)
        pages = {
            "head": {"from": "head"},
            "deep": {"token": deep_newer},
            "tail": {"from": "tail"},
            "deep_older": {"token": deep_older},
        }
        await walk.check_pages(pages)
        raw = _Raw(http, cluster)
        cases: dict[str, Request] = {name: walk.page_request(params) for name, params in pages.items()}
        cases["raw_deep"] = await raw.same_page(walk, deep_newer)
        cases["search"] = walk.search_request()
        cases["raw_search"] = raw.same_search()
        latencies = await walk.time_requests(cases, repeat)
    return DepthResult(depth, total, loaded, walk_seconds, walk.pages, latencies)


async def _load(
    cluster: Cluster, server: ServerProcess, http: aiohttp.ClientSession, total: int, batch: int, concurrency: int
) -> float:
    """The stream goes in through the API (lazily generated batches), then is refreshed and counted."""
    send = api_sender(http, server.url, server.headers)
    bodies = ((b.api_body(), len(b.lines)) for b in stream_batches(LABELS, total, max(batch, 5000)))
    seconds, _ = await send_all(send, bodies, concurrency)
    await cluster.refresh(DEPTH_PREFIX)
    stored = await cluster.count(DEPTH_PREFIX)
    if stored != total:
        raise BenchError(f"depth stream: sent {total} lines, stored {stored}")
    return seconds


class _Walk:
    """GET /api/v1/lines on the depth stream."""

    def __init__(self, http: aiohttp.ClientSession, server: ServerProcess):
        self.http = http
        self.url = f"{server.url}/api/v1/lines"
        self.headers = server.headers
        self.pages = 0

    async def get(self, params: dict[str, Any], limit: int) -> bytes:
        query = {**{f"labels.{k}": v for k, v in LABELS.items()}, "limit": str(limit), **params}
        async with self.http.get(self.url, params=query, headers=self.headers) as response:
            body = await response.read()
            if response.status != 200:
                raise BenchError(f"GET /api/v1/lines answered {response.status}: {body[:300]!r}")
        return body

    async def to_depth(self, depth: int) -> tuple[str, str, float]:
        """Follow newer tokens from the head to `depth` lines in; also keep the token `depth` lines from the tail."""
        start = time.perf_counter()
        page = orjson.loads(await self.get({"from": "head"}, MARGIN))
        walked, deep_older = len(page["lines"]), ""
        while walked < depth:
            page = orjson.loads(await self.get({"token": page["newer_token"]}, min(WALK_LIMIT, depth - walked)))
            if not page["lines"]:
                raise BenchError(f"the stream ended after {walked} lines, before depth {depth}")
            # The page that starts MARGIN lines in: going older from it is `depth` lines from the tail.
            deep_older = deep_older or page["older_token"]
            walked += len(page["lines"])
            self.pages += 1
        return page["newer_token"], deep_older, time.perf_counter() - start

    async def check_pages(self, cases: dict[str, dict[str, Any]]) -> None:
        """Every measured request gives a full page with lines on the expected sides."""
        expect_older = {"head": False, "deep": True, "tail": True, "deep_older": True}
        for name, params in cases.items():
            page = orjson.loads(await self.get(params, PAGE_LIMIT))
            if len(page["lines"]) != PAGE_LIMIT or page["has_more_older"] != expect_older[name]:
                raise BenchError(f"{name}: {len(page['lines'])} lines, has_more_older={page['has_more_older']}")

    def page_request(self, params: dict[str, Any]) -> Request:
        return lambda: self.get(params, PAGE_LIMIT)

    def search_request(self) -> Request:
        """GET /api/v1/search for one word over the stream: 100 hits, highlights, a total."""
        url = self.url.replace("/lines", "/search")

        async def search() -> bytes:
            query = {"q": SEARCH_WORD, "limit": str(PAGE_LIMIT)}
            async with self.http.get(url, params=query, headers=self.headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise BenchError(f"GET /api/v1/search answered {response.status}: {body[:300]!r}")
            return body

        return search

    async def time_requests(self, cases: dict[str, Request], repeat: int) -> dict[str, list[float]]:
        """Each case `repeat` times, in shuffled order per round so noise hits every case alike."""
        rng = random.Random(4)
        latencies: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for round_number in range(WARMUP + repeat):
            rng.shuffle(names)
            for name in names:
                start = time.perf_counter()
                await cases[name]()
                if round_number >= WARMUP:
                    latencies[name].append(time.perf_counter() - start)
        return latencies


class _Raw:
    """The searches logriver sends for the same page and the same search, sent straight to Elasticsearch."""

    def __init__(self, http: aiohttp.ClientSession, cluster: Cluster):
        self.http = http
        self.cluster = cluster
        self.url = f"{cluster.url}/{DEPTH_PREFIX}-lines-*/_search?ignore_unavailable=true&allow_no_indices=true"
        self.query = LineQuery(tenant=TENANT, labels=LABELS)

    def _request(self, body: bytes, hits: int) -> Request:
        async def search() -> bytes:
            async with self.http.post(self.url, data=body, headers={"Content-Type": "application/json"}) as response:
                answer = await response.read()
                if response.status != 200 or len(orjson.loads(answer)["hits"]["hits"]) != hits:
                    raise BenchError(f"raw search answered {response.status}: {answer[:300]!r}")
            return answer

        return search

    async def same_page(self, walk: _Walk, token: str) -> Request:
        """The deep page's search: its first line's sort key, found by id, gives the search_after."""
        first = orjson.loads(await walk.get({"token": token}, PAGE_LIMIT))["lines"][0]
        found = await self.cluster.client.search(
            index=f"{DEPTH_PREFIX}-lines-*", query={"ids": {"values": [first["id"]]}}, sort=sort_clause("asc")
        )
        key = SortKey.from_sort_values(found["hits"]["hits"][0]["sort"])
        body = slice_body(self.query, "newer", key.nudged("newer"), PAGE_LIMIT + 1, LINE_SOURCE)
        return self._request(orjson.dumps(body), PAGE_LIMIT + 1)

    def same_search(self) -> Request:
        body = {
            "query": {"bool": {"filter": build_filter(LineQuery(tenant=TENANT, text=SEARCH_WORD))}},
            "sort": sort_clause("desc"),
            "size": PAGE_LIMIT + 1,
            "_source": LINE_SOURCE,
            "track_total_hits": SEARCH_MAX_TOTAL,
            "highlight": {"fields": {"message": {"number_of_fragments": 3, "fragment_size": 200}}},
        }
        return self._request(orjson.dumps(body), PAGE_LIMIT + 1)
