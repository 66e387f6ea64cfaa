"""A three-node local cluster with replicas: status, sniffing, and the loss of a node under load.

The cluster is the session's own (tests/esnodes.py: its own node home and a block of ports it
holds), three nodes with bounded heaps, started on first use and stopped by pid at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import orjson
import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_scan

from logriver.app import create_app
from logriver.cli import main
from logriver.core.settings import Settings
from logriver.core.storage import Storage
from tests.helpers import ApiClient, auth, ts
from tests.sse import EventReader

RETRIED = (429, 503, 504)  # the statuses the README tells clients to retry, with the same body
BATCH = 25


pytestmark = pytest.mark.es


def test_status_shows_each_node(cluster, es_nodes, capsys, monkeypatch):
    """`logriver es status` finds the session's cluster by its home and port setting, whatever else runs."""
    for name, value in es_nodes.settings_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LOGRIVER_ES_URL", raising=False)
    assert main(["es", "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["cluster-1", "cluster-2", "cluster-3"]
    assert all("in cluster: True" in line for line in out)


async def test_sniffing_finds_every_node_from_one(cluster, cluster_settings):
    settings = replace(cluster_settings, es_url=cluster.urls[0], es_sniff=True)
    storage = Storage.from_settings(settings, settings.es_url)
    try:
        assert await storage.check()
        nodes = {f"http://{node.config.host}:{node.config.port}" for node in storage.client.transport.node_pool.all()}
    finally:
        await storage.close()
    assert nodes == set(cluster.urls)


async def test_new_indices_get_a_replica_on_the_cluster(cluster, cluster_settings, aiohttp_client, token_store):
    api = await _start_api(aiohttp_client, cluster_settings, token_store)
    await api.post_lines({"labels": {"job": "r"}, "lines": [{"@timestamp": ts(), "message": "x"}]})
    client = AsyncElasticsearch(cluster.urls)
    try:
        shards = await client.cat.shards(index=f"{cluster_settings.index_prefix}-lines-*", format="json")
    finally:
        await client.close()
    assert Counter(shard["prirep"] for shard in shards.body) == {"p": 2, "r": 2}


# -- node loss ------------------------------------------------------------------------------


@dataclass
class Record:
    """What the clients saw: acknowledged lines, retries, tail deliveries, readiness answers."""

    acknowledged: list[str] = field(default_factory=list)
    retries: Counter[int] = field(default_factory=Counter)
    ready: list[tuple[float, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def _start_api(aiohttp_client, settings: Settings, token_store) -> ApiClient:
    api = ApiClient(await aiohttp_client(create_app(settings, token_store, settings.es_url)))
    for _ in range(300):
        if (await api.http.get("/readyz")).status == 200:
            return api
        await asyncio.sleep(0.1)
    raise AssertionError("storage did not become ready")


async def _send(api: ApiClient, body: bytes, record: Record, **params: str) -> dict[str, Any]:
    """POST until answered 200, resending the very same bytes after 429/503/504."""
    headers = {**auth("rw-acme"), "Content-Type": "application/json"}
    while True:
        response = await api.http.post("/api/v1/lines", data=body, headers=headers, params=params)
        if response.status not in RETRIED:
            assert response.status == 200, await response.text()
            return dict(await response.json())
        record.retries[response.status] += 1
        await asyncio.sleep(0.2)


async def _ingest(api: ApiClient, client: int, stop: asyncio.Event, record: Record) -> None:
    number = 0
    while not stop.is_set():
        messages = [f"c{client}-b{number}-l{i}" for i in range(BATCH)]
        body = orjson.dumps(
            {"labels": {"job": "ingest"}, "lines": [{"@timestamp": ts(), "message": m} for m in messages]}
        )
        result = await _send(api, body, record)
        if result["accepted"] != BATCH or result["rejected"]:
            record.failures.append(f"batch {client}/{number}: {result}")
        record.acknowledged.extend(messages)
        number += 1
        await asyncio.sleep(0.05)


@dataclass
class Tail:
    """One tail's deliveries; with `leave` set, it disconnects once then and resumes 2 s later."""

    lines: list[str] = field(default_factory=list)
    reconnects: int = 0
    leave: asyncio.Event | None = None


async def _follow_tail(api: ApiClient, tail: Tail, record: Record) -> None:
    """Follow the ingest stream; on any end, refusal or departure, resume from the last event id."""
    position: str | None = None
    while True:
        reader = await _open_tail(api, {"Last-Event-ID": position} if position else {}, record)
        if reader is None:
            tail.reconnects += 1
            await asyncio.sleep(0.5)
            continue
        position = position or reader.position
        try:
            position = await _read_tail(reader, tail, record, position)
        except (EOFError, ConnectionError, TimeoutError, aiohttp.ClientError):
            pass
        finally:
            reader.close()
        tail.reconnects += 1
        if tail.leave is not None and tail.leave.is_set():
            tail.leave = None
            await asyncio.sleep(2)  # away while lines keep arriving


async def _open_tail(api: ApiClient, headers: dict[str, str], record: Record) -> EventReader | None:
    """The tail, or None after an answer the README says to retry; any other answer is a failure."""
    params = {"labels.job": "ingest"}
    response = await api.http.get("/api/v1/tail", params=params, headers=auth("read-acme") | headers)
    if response.status in RETRIED:
        record.retries[response.status] += 1
        response.close()
        return None
    if response.status != 200:
        record.failures.append(f"tail answered {response.status}: {await response.text()}")
        raise AssertionError(record.failures[-1])
    return await EventReader(response.content.readline, response.close).opened()


async def _read_tail(reader: Any, tail: Tail, record: Record, position: str | None) -> str | None:
    """Read events until the stream ends or the tail leaves; the position after the last whole event."""
    leave = asyncio.create_task(tail.leave.wait()) if tail.leave is not None else None
    try:
        while True:
            event_task = asyncio.create_task(reader.next(timeout=60))
            await asyncio.wait({event_task, *([leave] if leave else [])}, return_when=asyncio.FIRST_COMPLETED)
            if not event_task.done():
                event_task.cancel()
                await asyncio.gather(event_task, return_exceptions=True)
                return position
            event = event_task.result()
            if event.name == "message":
                tail.lines.append(event.data["message"])
                position = event.id
            elif event.name == "end":
                return str(event.data["position"])
            elif event.name == "dropped":
                record.failures.append(f"tail dropped {event.data}")
    finally:
        if leave is not None:
            leave.cancel()


async def _watch_ready(api: ApiClient, record: Record) -> None:
    start = time.monotonic()
    while True:
        response = await api.http.get("/readyz")
        record.ready.append((time.monotonic() - start, response.status))
        await asyncio.sleep(0.1)


async def _get_page(api: ApiClient, record: Record, **params: Any) -> dict[str, Any]:
    while True:
        response = await api.http.get("/api/v1/lines", params=params, headers=auth("read-acme"))
        if response.status not in RETRIED:
            assert response.status == 200, await response.text()
            return dict(await response.json())
        record.retries[response.status] += 1
        await asyncio.sleep(0.2)


async def _primary_holder(client: AsyncElasticsearch, prefix: str) -> str:
    """The node holding most primaries of the lines indices: killing it forces promotions."""
    shards = await client.cat.shards(index=f"{prefix}-lines-*", format="json")
    counts = Counter(s["node"] for s in shards.body if s["prirep"] == "p" and s["state"] == "STARTED")
    return counts.most_common(1)[0][0]


async def _stored(client: AsyncElasticsearch, prefix: str) -> Counter[str]:
    await client.indices.refresh(index=f"{prefix}-lines-*")
    query = {"query": {"term": {"labels.job": "ingest"}}, "_source": ["message"]}
    return Counter(
        [hit["_source"]["message"] async for hit in async_scan(client, index=f"{prefix}-lines-*", query=query)]
    )


@pytest.mark.timeout(420)
async def test_losing_a_node_loses_and_repeats_nothing(cluster, cluster_settings, aiohttp_client, token_store):
    """SIGKILL the node with most primaries during ingest, paging and a tail; then let it rejoin."""
    api = await _start_api(aiohttp_client, cluster_settings, token_store)
    record = Record()
    prefix = cluster_settings.index_prefix
    raw = AsyncElasticsearch(cluster.urls, max_retries=3, retry_on_timeout=True)
    paged = [f"p{i:04d}" for i in range(250)]
    body = {"labels": {"job": "paged"}, "lines": [{"@timestamp": ts(), "message": m} for m in paged]}
    await _send(api, orjson.dumps(body), record, refresh="wait_for")
    first = await _get_page(api, record, **{"labels.job": "paged", "limit": "100"})

    # One tail stays connected through the kill; the other leaves at the kill and resumes later.
    staying, leaving = Tail(), Tail(leave=asyncio.Event())
    background = [asyncio.create_task(_watch_ready(api, record))]
    background += [asyncio.create_task(_follow_tail(api, tail, record)) for tail in (staying, leaving)]
    stop = asyncio.Event()
    clients = [asyncio.create_task(_ingest(api, n, stop, record)) for n in range(3)]
    try:
        await asyncio.sleep(3)
        holder = await _primary_holder(raw, prefix)
        victim = next(node for node in cluster.nodes if node.name == holder)
        acknowledged_before_kill = len(record.acknowledged)
        assert leaving.leave is not None
        leaving.leave.set()
        killed = victim.kill()
        assert len(killed) == 2, f"the server JVM and its launcher must both be killed, got {killed}"
        killed_at = record.ready[-1][0]

        # Paging with a token issued before the kill, right after it.
        pages, token = [first], first["newer_token"]
        while pages[-1]["has_more_newer"]:
            pages.append(await _get_page(api, record, **{"labels.job": "paged", "limit": "100", "token": token}))
            token = pages[-1]["newer_token"]
        await asyncio.sleep(6)
        stop.set()
        await asyncio.gather(*clients)

        await asyncio.to_thread(cluster.start)  # restarts the killed node only, into the running cluster
        health = await asyncio.to_thread(cluster.wait_for, "wait_for_status=green&wait_for_nodes=3", 180)
        rejoined_at = record.ready[-1][0]

        def every_line_tailed() -> bool:
            # A recorded failure (a tail refused with a status not to retry) ends the wait at once.
            return bool(record.failures) or all(set(record.acknowledged) <= set(t.lines) for t in (staying, leaving))

        await _wait_until(every_line_tailed, 60, "both tails delivered every acknowledged line")
        assert not record.failures, record.failures
    finally:
        stop.set()
        for task in [*clients, *background]:
            task.cancel()
        await asyncio.gather(*clients, *background, return_exceptions=True)

    stored = await _stored(raw, prefix)
    await raw.close()
    acknowledged = Counter(record.acknowledged)
    lost = [m for m in acknowledged if m not in stored]
    duplicated = [m for m, n in stored.items() if n > 1]
    tailed, resumed = Counter(staying.lines), Counter(leaving.lines)
    print(
        f"\nnode loss: killed {victim.name} after {acknowledged_before_kill} acknowledged lines; "
        f"acknowledged={len(acknowledged)} stored={sum(stored.values())} lost={len(lost)} duplicated={len(duplicated)} "
        f"retries={dict(record.retries)} tailed={len(staying.lines)}/{len(leaving.lines)} (staying/resumed) "
        f"tail_duplicates={sum(n - 1 for n in tailed.values())}/{sum(n - 1 for n in resumed.values())} "
        f"tail_reconnects={staying.reconnects}/{leaving.reconnects} readyz_probes={len(record.ready)} "
        f"readyz_not_200={sum(1 for _, s in record.ready if s != 200)} health={health['status']}"
    )
    assert not record.failures
    assert sum(acknowledged.values()) == len(acknowledged), "the test's own messages must be unique"
    assert len(acknowledged) > acknowledged_before_kill > 0
    assert lost == [] and duplicated == []
    assert [line["message"] for page in pages for line in page["lines"]] == paged
    assert set(tailed) == set(stored) and max(tailed.values()) == 1
    assert set(resumed) == set(stored) and max(resumed.values()) == 1 and leaving.reconnects >= 1
    # Two of three nodes kept a quorum and a copy of every shard: storage stayed usable, so
    # /readyz must have said ready all along, through the kill and the rejoin.
    assert [s for t, s in record.ready if s != 200] == [], (killed_at, rejoined_at, record.ready)
    assert health["status"] == "green" and health["number_of_nodes"] == 3


async def _wait_until(condition: Any, seconds: float, description: str) -> None:
    """Poll a condition on test-side state (lists the tasks fill) for at most `seconds`."""
    for _ in range(int(seconds / 0.2)):
        if condition():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached within {seconds} s: {description}")
