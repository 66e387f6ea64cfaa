"""Storage: bytes on disk per line, logriver against the same lines shipped straight to Elasticsearch.

Three stores get the same lines in the same order, each in indices of one shard and no replica:

- *plain*: `@timestamp`, `message` and `labels` into an index with Elasticsearch's default
  dynamic mapping, which is what a shipper pointed at Elasticsearch directly gets;
- *before*: the documents logriver stores, under the lines template as it was before the storage
  work (a copy kept in `bench/data/lines-before.json`);
- *logriver*: the same documents under today's templates (`mappings/`).

Each is refreshed, force-merged to one segment and flushed before `_stats/store` is read; the size
before the merge is kept too, since live indices are rarely merged to one segment.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.cluster import Cluster
from bench.corpus import CorpusLine, corpus
from bench.logs import TENANT
from bench.send import BenchError
from logriver.core.indices import IndexLayout
from logriver.core.streams import stream_id
from logriver.core.timeutil import format_rfc3339_ns, now_ns
from logriver.ingest.lineids import IdFunction, template_id_function
from logriver.ingest.schemas import LineIn
from logriver.ingest.writer import SequenceAllocator, _line_document, request_digest

# Seconds of polling, after a force-merge, for the merged-away files to be deleted.
SETTLE_ROUNDS = 120
BEFORE_TEMPLATE = Path(__file__).parent / "data" / "lines-before.json"
BULK_LINES = 5000
SENDERS = 2
ONE_SHARD = {"number_of_shards": 1, "number_of_replicas": 0, "auto_expand_replicas": "false"}


@dataclass
class Store:
    """One variant's indices and what they hold after the merge."""

    name: str
    prefix: str
    docs: int = 0
    bytes_unmerged: int = 0
    bytes_merged: int = 0
    fields: dict[str, int] = field(default_factory=dict)  # field -> bytes on disk (all its structures)

    def per_line(self, merged: bool = True) -> float:
        return (self.bytes_merged if merged else self.bytes_unmerged) / self.docs

    def fields_per_line(self) -> float:
        """The merged segment's own bytes: every field's structures, nothing else in the directory."""
        return sum(self.fields.values()) / self.docs


@dataclass
class StorageResult:
    lines: int
    streams: int
    message_bytes: int
    stores: list[Store]

    def store(self, name: str) -> Store:
        return next(s for s in self.stores if s.name == name)

    @property
    def ratio(self) -> float:
        # By the merged segments' field sums: the store's size on disk also counts files a node
        # deletes late (a 200,000-line plain store measured anywhere from 228 to 350 bytes a line
        # while its fields stayed at 230), which would flatter whichever store kept more of them.
        return self.store("logriver").fields_per_line() / self.store("plain").fields_per_line()


def _plain_action(line: CorpusLine, index: str) -> tuple[bytes, bytes]:
    document = {"@timestamp": format_rfc3339_ns(line.timestamp_ns), "message": line.message, "labels": line.labels}
    return b'{"create":{"_index":"%s"}}' % index.encode(), orjson.dumps(document)


def _logriver_actions(
    lines: list[CorpusLine], layout: IndexLayout, sequence: SequenceAllocator, request: int, line_id: IdFunction
) -> Iterator[bytes]:
    """The line documents and ids logriver's writer makes for one request of these lines, as shippers send them."""
    digest = request_digest(TENANT, request.to_bytes(8, "big"))
    base, node = sequence.reserve(len(lines))
    ingested = format_rfc3339_ns(base)
    for offset, raw in enumerate(lines):
        sid = stream_id(TENANT, raw.labels)
        line = LineIn(raw.timestamp_ns, raw.message, raw.labels)
        doc_id = line_id(TENANT, sid, line, offset, digest)
        yield b'{"create":{"_index":"%s","_id":"%s"}}' % (
            layout.lines_index(line.timestamp_ns).encode(),
            doc_id.encode(),
        )
        yield orjson.dumps(_line_document(TENANT, sid, line, SequenceAllocator.format(base, offset, node), ingested))


def _bodies(store: Store, lines: list[CorpusLine], layout: IndexLayout) -> Iterator[bytes]:
    sequence = SequenceAllocator()
    line_id = template_id_function(_lines_template(store))  # each store gets its template's ids
    for start in range(0, len(lines), BULK_LINES):
        chunk = lines[start : start + BULK_LINES]
        if store.name == "plain":
            parts = [part for line in chunk for part in _plain_action(line, f"{store.prefix}-lines-plain")]
        else:
            parts = list(_logriver_actions(chunk, layout, sequence, start, line_id))
        yield b"\n".join(parts) + b"\n"


async def _load(cluster: Cluster, store: Store, lines: list[CorpusLine]) -> None:
    layout = cluster.layout(store.prefix)
    bodies = _bodies(store, lines, layout)

    async def sender() -> None:
        for body in bodies:
            response = await cluster.client.bulk(operations=body, filter_path="errors,items.*.error")  # type: ignore[arg-type]
            if response.get("errors"):
                raise BenchError(f"{store.name}: bulk rejected lines: {str(response.get('items'))[:500]}")

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


def _lines_template(store: Store) -> dict[str, Any]:
    layout = IndexLayout(store.prefix, replicas="0")
    if store.name != "before":
        return layout.templates()[f"{store.prefix}-lines"]
    body: dict[str, Any] = json.loads(BEFORE_TEMPLATE.read_text().replace("{prefix}", store.prefix))
    body["template"]["settings"].update(layout.dynamic_settings())
    return body


async def _install(cluster: Cluster, store: Store) -> None:
    if store.name == "plain":
        await cluster.client.indices.create(index=f"{store.prefix}-lines-plain", settings=ONE_SHARD)
        return
    templates = IndexLayout(store.prefix, replicas="0").templates()
    templates[f"{store.prefix}-lines"] = _lines_template(store)
    for name, body in templates.items():
        await cluster.client.indices.put_index_template(name=name, **body)


async def _size(cluster: Cluster, store: Store) -> tuple[int, int]:
    stats = await cluster.client.indices.stats(index=f"{store.prefix}-lines-*", metric="store,docs")
    primaries = stats["_all"]["primaries"]
    return int(primaries["store"]["size_in_bytes"]), int(primaries["docs"]["count"])


async def _settled_size(cluster: Cluster, store: Store) -> tuple[int, int]:
    """The size once the merged-away segments are gone: a loaded node deletes their files late."""
    pattern = f"{store.prefix}-lines-*"
    previous = (-1, -1)
    for _ in range(SETTLE_ROUNDS):
        await cluster.client.indices.refresh(index=pattern)
        stats = await cluster.client.indices.stats(index=pattern, metric="segments")
        size = await _size(cluster, store)
        if stats["_all"]["primaries"]["segments"]["count"] <= len(stats["indices"]) and size == previous:
            return size
        previous = size
        await asyncio.sleep(1)
    raise BenchError(f"{store.name}: the store did not settle to one segment an index after the merge")


async def _merge_and_measure(cluster: Cluster, store: Store) -> None:
    pattern = f"{store.prefix}-lines-*"
    await cluster.client.indices.refresh(index=pattern)
    await cluster.client.indices.flush(index=pattern)
    store.bytes_unmerged, store.docs = await _size(cluster, store)
    await cluster.client.options(request_timeout=3600).indices.forcemerge(
        index=pattern, max_num_segments=1, wait_for_completion=True
    )
    await cluster.client.indices.flush(index=pattern, force=True)
    store.bytes_merged, store.docs = await _settled_size(cluster, store)
    usage = await cluster.client.perform_request(
        "POST",
        f"/{pattern}/_disk_usage",
        params={"run_expensive_tasks": "true"},
        headers={"accept": "application/json"},
    )
    for name, index in usage.body.items():
        if name == "_shards":
            continue
        for field_name, figures in index.get("fields", {}).items():
            store.fields[field_name] = store.fields.get(field_name, 0) + int(figures["total_in_bytes"])


async def measure_storage(cluster: Cluster, total: int, run_id: str, keep: bool = False) -> StorageResult:
    """Load the same lines into the three stores one after the other, merge, and measure each."""
    lines = list(corpus(total, now_ns() - 60 * 10**9))
    stores = [Store(name, f"lrbench-{run_id}-st{name}") for name in ("plain", "before", "logriver")]
    try:
        for store in stores:
            await _install(cluster, store)
            started = time.perf_counter()
            await _load(cluster, store, lines)
            await _merge_and_measure(cluster, store)
            if store.docs != total:
                raise BenchError(f"{store.name}: sent {total} lines, stored {store.docs}")
            print(f"  ({store.name}: loaded and merged in {time.perf_counter() - started:.0f} s)", flush=True)
        await _check_round_trip(cluster, stores[-1], lines)
    finally:
        if not keep:
            for store in stores:
                await cluster.delete_prefix(store.prefix)
    streams = len({tuple(sorted(line.labels.items())) for line in lines})
    return StorageResult(total, streams, sum(len(line.message.encode()) for line in lines), stores)


async def _check_round_trip(cluster: Cluster, store: Store, lines: list[CorpusLine]) -> None:
    """Messages come back byte for byte from logriver's store (a sample of every kind)."""
    response = await cluster.client.search(
        index=f"{store.prefix}-lines-*",
        query={"bool": {"filter": [{"range": {"@timestamp": {"gte": format_rfc3339_ns(lines[0].timestamp_ns)}}}]}},
        size=10000,
        sort=[{"@timestamp": "asc"}],
        source=["message"],
        track_total_hits=False,
    )
    stored = {hit["_source"]["message"] for hit in response["hits"]["hits"]}
    expected = {line.message for line in lines[:10000]}
    if stored != expected:
        raise BenchError(f"{store.name}: stored messages differ from the ones sent")
