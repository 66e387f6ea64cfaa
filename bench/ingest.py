"""Ingest: the same lines through logriver's API and as raw `_bulk`, in alternating rounds."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from bench.cluster import Cluster
from bench.logs import Batch, es_bulk_body, ingest_batches, raw_bulk_body
from bench.send import BenchError, Sender, api_sender, es_bulk_sender, raw_sender, send_all, session
from bench.server import ServerProcess
from logriver.core.indices import IndexLayout
from logriver.core.timeutil import format_rfc3339_ns, now_ns
from logriver.ingest.writer import SequenceAllocator

SAMPLE_SIZE = 200
UNCOMPARED = ("seq", "ingested_at")  # arrival-time values: same shape, different instants


@dataclass
class Way:
    """One way of writing: where it stores, and what it took."""

    name: str
    prefix: str
    seconds: float = 0.0
    retries: int = 0
    stored: int = 0
    phases: list[float] = field(default_factory=list)


@dataclass
class IngestResult:
    lines: int
    streams: int
    api: Way
    raw: Way
    server_cpu_seconds: float
    server_peak_rss_mib: float
    esbulk: Way | None = None  # the same lines through logriver's Elasticsearch-compatible `_bulk`
    esbulk_cpu_seconds: float = 0.0

    @property
    def ratio(self) -> float:
        return (self.lines / self.api.seconds) / (self.lines / self.raw.seconds)

    @property
    def es_bulk_ratio(self) -> float:
        return float("nan") if self.esbulk is None else self.raw.seconds / self.esbulk.seconds

    @property
    def cpu_us_per_line(self) -> float:
        return self.server_cpu_seconds / self.lines * 1e6


def _rounds(items: list[Batch], rounds: int) -> list[list[Batch]]:
    size = -(-len(items) // rounds)
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _phase(cluster: Cluster, way: Way, send: Sender, bodies: list[tuple[bytes, int]], concurrency: int) -> None:
    """Write, then refresh: lines count as ingested once searchable."""
    seconds, retries = await send_all(send, bodies, concurrency)
    start = time.perf_counter()
    await cluster.refresh(way.prefix)
    way.phases.append(seconds + time.perf_counter() - start)
    way.seconds += way.phases[-1]
    way.retries += retries


def _bodies(
    part: list[Batch], layout: IndexLayout, sequence: SequenceAllocator, ids: list[str]
) -> dict[str, list[tuple[bytes, int]]]:
    """Both ways' request bodies for one round, built before the clock starts; collects the line ids."""
    ingested = format_rfc3339_ns(now_ns())
    bodies: dict[str, list[tuple[bytes, int]]] = {
        "api": [(b.api_body(), len(b.lines)) for b in part],
        "raw": [],
        "esbulk": [(es_bulk_body(b), len(b.lines)) for b in part],
    }
    for b in part:
        body, body_ids = raw_bulk_body(b, layout, sequence, ingested)
        bodies["raw"].append((body, len(b.lines)))
        ids.extend(body_ids)
    return bodies


async def measure_ingest(
    cluster: Cluster, lines: int, batch: int, concurrency: int, rounds: int, run_id: str
) -> IngestResult:
    """The three ways, in an order that rotates per round so that none always goes first on a busy node."""
    batches = ingest_batches(lines, batch)
    api, raw = Way("api", f"lrbench-{run_id}-api"), Way("raw", f"lrbench-{run_id}-raw")
    esbulk = Way("esbulk", f"lrbench-{run_id}-esb")
    try:
        await cluster.install_templates(raw.prefix)
        layout, sequence = cluster.layout(raw.prefix), SequenceAllocator()
        async with (
            ServerProcess(cluster.url, api.prefix) as server,
            ServerProcess(cluster.url, esbulk.prefix) as compat,
            session(concurrency) as http,
        ):
            cpu_before = server.cpu_seconds(), compat.cpu_seconds()
            senders = {
                "api": api_sender(http, server.url, server.headers),
                "raw": raw_sender(http, cluster.url),
                "esbulk": es_bulk_sender(http, compat.url, compat.headers),
            }
            ids: list[str] = []
            ways = [api, raw, esbulk]
            for number, part in enumerate(_rounds(batches, rounds)):
                bodies = _bodies(part, layout, sequence, ids)
                for way in ways[number % 3 :] + ways[: number % 3]:
                    await _phase(cluster, way, senders[way.name], bodies[way.name], concurrency)
            cpu = server.cpu_seconds() - cpu_before[0], compat.cpu_seconds() - cpu_before[1]
            rss = server.peak_rss_mib()
        await _check_stored(cluster, api, raw, lines, ids)
        esbulk.stored = await cluster.count(esbulk.prefix)
        if esbulk.stored != lines:
            raise BenchError(f"lines lost through _bulk: sent {lines}, stored {esbulk.stored}")
    finally:
        for prefix in (api.prefix, raw.prefix, esbulk.prefix):
            await cluster.delete_prefix(prefix)
    streams = len({tuple(sorted({**b.shared_labels, **ln["labels"]}.items())) for b in batches for ln in b.lines})
    return IngestResult(lines, streams, api, raw, cpu[0], rss, esbulk, cpu[1])


async def _check_stored(cluster: Cluster, api: Way, raw: Way, lines: int, ids: list[str]) -> None:
    """All lines stored both ways, and the raw documents are the ones logriver stores."""
    api.stored, raw.stored = await cluster.count(api.prefix), await cluster.count(raw.prefix)
    if api.stored != lines or raw.stored != lines:
        raise BenchError(f"lines lost: sent {lines}, stored api {api.stored}, raw {raw.stored}")
    sample = random.Random(3).sample(ids, min(SAMPLE_SIZE, len(ids)))
    from_api, from_raw = await cluster.sources(api.prefix, sample), await cluster.sources(raw.prefix, sample)
    for doc_id in sample:
        a, r = from_api.get(doc_id), from_raw.get(doc_id)
        if a is None or r is None:
            raise BenchError(f"line {doc_id} is missing (api: {a is not None}, raw: {r is not None})")
        if {k: v for k, v in a.items() if k not in UNCOMPARED} != {k: v for k, v in r.items() if k not in UNCOMPARED}:
            raise BenchError(f"line {doc_id} differs:\n api {a}\n raw {r}")
        if len(a["seq"]) != len(r["seq"]):
            raise BenchError(f"line {doc_id}: seq differs in shape:\n api {a}\n raw {r}")
