"""Never a silent partial answer: a read that meets a shard that cannot answer says so with a 503.

The failures are real. On the one test node: a lines index whose primary cannot be allocated
(closed, then reopened with an allocation filter that names no node: its primary is gone as
when its node dies without a replica), and a closed index. On the local three-node cluster
(tests/partial_cluster.py): the node holding a primary is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from elasticsearch import ApiError, AsyncElasticsearch

from logriver.app import create_app
from logriver.core.errors import StorageUnavailableError
from logriver.core.indices import layout_of
from logriver.core.settings import Settings
from logriver.core.storage import Storage
from logriver.core.timeutil import NS_PER_SECOND
from logriver.esruntime.cluster import LocalCluster
from logriver.ingest.rollover import CHECK_SECONDS, seconds_to_next_round
from logriver.query.arrivals import position_at
from logriver.services import SERVICES
from tests.helpers import ApiClient, auth, ts
from tests.sse import open_tail

pytestmark = pytest.mark.es

DAY_NS = 86400 * NS_PER_SECOND
JOB = {"job": "partial"}
NOWHERE = "no-such-node"  # an allocation filter no node matches: the primary cannot start


def yesterday_ns() -> int:
    """Noon of the UTC day before today: inside the retention window, in its own index."""
    today = time.time_ns() // DAY_NS * DAY_NS
    return today - DAY_NS // 2


async def lose_primary(es: AsyncElasticsearch, index: str) -> None:
    """Leave `index` with its lines but no active primary: what its node's death does without a replica.

    A started primary never leaves the only node, so the index is rebuilt as a clone that no
    node may hold; the held copy it was cloned from brings it back in `restore_primary`.
    """
    held = index.replace("-lines-", "-held-")
    await es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    await es.indices.clone(
        index=index, target=held, settings={"index.number_of_replicas": 0}, wait_for_active_shards="1"
    )
    await es.indices.delete(index=index)
    lost = {
        "index.number_of_replicas": 0,
        "index.routing.allocation.require._name": NOWHERE,
        "index.blocks.write": None,
    }
    await es.indices.clone(index=held, target=index, settings=lost, wait_for_active_shards="0")


async def restore_primary(es: AsyncElasticsearch, index: str) -> None:
    await es.indices.put_settings(index=index, settings={"index.routing.allocation.require._name": None})
    await es.cluster.health(index=index, wait_for_status="green", timeout="60s")
    await es.indices.delete(index=index.replace("-lines-", "-held-"))


async def write(api: ApiClient, labels: dict[str, str], stamps: list[int], prefix: str) -> list[str]:
    """Write one line per timestamp; returns the messages in timestamp order."""
    messages = [f"{prefix} {i}" for i in range(len(stamps))]
    lines = [{"@timestamp": ts(base_ns=s), "message": m} for s, m in zip(stamps, messages, strict=True)]
    assert (await api.post_lines({"labels": labels, "lines": lines}))["accepted"] == len(lines)
    return messages


async def two_days(api: ApiClient) -> tuple[list[str], list[str]]:
    """Lines of yesterday and of today in one stream."""
    old = await write(api, JOB, [yesterday_ns() + i * NS_PER_SECOND for i in range(6)], "old")
    new = await write(api, JOB, [time.time_ns() - 60 * NS_PER_SECOND + i for i in range(6)], "new")
    return old, new


# Every read path that serves lines, in each family: (family, path, params).
def read_calls(line_id: str) -> list[tuple[str, str, dict[str, str]]]:
    job = {"labels.job": "partial"}
    return [
        ("native", "/api/v1/lines", {**job, "limit": "1000"}),
        ("native", "/api/v1/search", {"q": "old OR new", "limit": "1000"}),
        ("native", "/api/v1/search", {**job, "interval": "auto", "limit": "1"}),
        ("native", f"/api/v1/lines/{line_id}", {}),
        ("native", f"/api/v1/lines/{line_id}/context", {"before": "20", "after": "20"}),
        ("native", "/api/v1/streams", {}),
        ("iceprod", "/logs", {}),
        ("scale", "/v6/job-executions/1/logs/combined/", {}),
        ("modelarts", "/v1/acme/services/s1/events", {}),
        ("abeja", "/organizations/acme/deployments/d1/runs/r1/logs", {}),
    ]


async def foreign_streams(api: ApiClient) -> None:
    """A stream for each foreign API's read, written today."""
    for labels in (
        {"job_exe_id": "1", "stream": "stdout"},
        {"project_id": "acme", "service_id": "s1"},
        {"organization_id": "acme", "deployment_id": "d1", "run_id": "r1"},
    ):
        await write(api, labels, [time.time_ns() - 30 * NS_PER_SECOND], "foreign")
    body = {"name": "stdout", "data": "entry", "dataset_id": "d1", "task_id": "t1"}
    response = await api.http.post("/logs", json=body, headers=auth(), params={"refresh": "wait_for"})
    assert response.status in (200, 201), await response.text()


async def answer(api: ApiClient, path: str, params: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    response = await api.http.get(path, params=params, headers=auth())
    return response.status, await response.text(), dict(response.headers)


def label_of(settings: Settings, timestamp_ns: int) -> str:
    layout = layout_of(settings)
    label = layout.bucket_label(layout.lines_index(timestamp_ns))
    assert label is not None
    return label


async def test_every_read_answers_503_naming_the_day_while_a_primary_is_lost(make_api, settings, es):
    api = await make_api()
    old, new = await two_days(api)
    await foreign_streams(api)
    page = await api.get_lines(labels__job="partial", limit=1000)
    assert [line["message"] for line in page["lines"]] == old + new
    calls = read_calls(page["lines"][-1]["id"])
    healthy = [await answer(api, path, params) for _, path, params in calls]
    assert all(status == 200 for status, _, _ in healthy), healthy
    lost = layout_of(settings).lines_index(yesterday_ns())
    await lose_primary(es, lost)
    try:
        for (family, path, _), (status, text, headers) in zip(
            calls, [await answer(api, p, q) for _, p, q in calls], strict=True
        ):
            assert status == 503, f"{family} {path}: {status} {text[:300]}"
            assert headers["Retry-After"] == str(settings.retry_after_seconds)
            assert label_of(settings, yesterday_ns()) in text, f"{family} {path}: {text[:300]}"
    finally:
        await restore_primary(es, lost)
    again = [await answer(api, path, params) for _, path, params in calls]
    assert [(s, t) for s, t, _ in again] == [(s, t) for s, t, _ in healthy]


async def test_a_token_issued_before_the_loss_goes_on_without_a_gap(make_api, settings, es):
    api = await make_api()
    old, new = await two_days(api)
    first = await api.get_lines(labels__job="partial", from_="tail", limit=3)
    assert [line["message"] for line in first["lines"]] == new[-3:]
    onward = {"labels.job": "partial", "token": first["older_token"]}
    lost = layout_of(settings).lines_index(yesterday_ns())
    await lose_primary(es, lost)
    try:
        status, text, _ = await answer(api, "/api/v1/lines", {**onward, "limit": "1000"})
        assert status == 503, text
        assert orjson.loads(text)["error"]["details"]["unavailable"] == [
            f"the lines of {label_of(settings, yesterday_ns())}"
        ]
    finally:
        await restore_primary(es, lost)
    status, text, _ = await answer(api, "/api/v1/lines", {**onward, "limit": "1000"})
    assert status == 200, text
    rest = orjson.loads(text)
    assert [line["message"] for line in rest["lines"]] + new[-3:] == old + new
    assert rest["has_more_older"] is False


async def test_a_closed_index_inside_the_window_is_reported_and_one_outside_is_not(make_api, settings, es):
    api = await make_api()
    old, new = await two_days(api)
    closed = layout_of(settings).lines_index(yesterday_ns())
    await es.indices.close(index=closed)
    refused = await api.get_lines(labels__job="partial", limit=1000, expect=503)
    assert refused["error"]["type"] == "storage_unavailable"
    assert label_of(settings, yesterday_ns()) in refused["error"]["message"]
    today = ts(base_ns=time.time_ns() // DAY_NS * DAY_NS)
    page = await api.get_lines(labels__job="partial", limit=1000, start=today)
    assert [line["message"] for line in page["lines"]] == new
    await es.indices.open(index=closed, wait_for_active_shards="1")
    page = await api.get_lines(labels__job="partial", limit=1000)
    assert [line["message"] for line in page["lines"]] == old + new


async def test_indices_that_cannot_hold_a_line_never_fail_a_read(make_api, settings, es):
    """Retention's leftovers, and a bucket made ahead of time whose primary is still starting, hold nothing."""
    api = await make_api(dataclasses.replace(settings, retention_days=2, max_future_seconds=3600))
    _, new = await two_days(api)
    layout = layout_of(settings)
    red, closed = (layout.lines_index(time.time_ns() - d * DAY_NS) for d in (5, 6))
    for index in (red, closed):
        await es.indices.create(index=index, wait_for_active_shards="1")
    await es.indices.close(index=closed)
    await lose_primary(es, red)
    starting = layout.lines_index(time.time_ns() + 2 * DAY_NS)  # beyond max_future_seconds: no line yet
    unstarted = {"index.number_of_replicas": 0, "index.routing.allocation.require._name": NOWHERE}
    await es.indices.create(index=starting, settings=unstarted, wait_for_active_shards="0")
    page = await api.get_lines(labels__job="partial", limit=1000)
    assert [line["message"] for line in page["lines"]][-len(new) :] == new
    found = await api.get("/api/v1/search", q="new", limit=1000)
    assert found["total"]["value"] == len(new)


async def test_a_tail_poll_that_fails_does_not_advance_and_delivers_once_in_order(make_api, settings, es):
    # Rounds are driven below; a refresh waits for a lost primary, so storage calls give up soon.
    api = await make_api(dataclasses.replace(settings, tail_poll_seconds=3600, es_timeout_seconds=10))
    hub = api.http.app[SERVICES].tail_hub
    hub.settle_seconds = 0  # the writes below wait for refresh: every line is visible at once
    hub.local = None  # no early rounds on this process's writes: the test drives every round
    tail = await open_tail(api, labels__job="partial")
    old, new = await two_days(api)  # arrive in this order: yesterday's lines first
    group = next(iter(hub.groups.values()))
    start = group.high
    lost = layout_of(settings).lines_index(yesterday_ns())
    await lose_primary(es, lost)
    try:
        with pytest.raises(StorageUnavailableError):
            await hub.poll_once()
        assert group.high == start, "a failed round moved the tail"
        # The poll's own search, past the refresh (which waits for the primary): an error, not fewer lines.
        [scanned] = await hub.arrivals.scan_many([group.scan(position_at(hub.clock.now_ns()), hub.batch)])
        assert isinstance(scanned, StorageUnavailableError), scanned
    finally:
        await restore_primary(es, lost)
    await hub.poll_once()
    assert await tail.messages(len(old) + len(new)) == old + new
    await write(api, JOB, [time.time_ns()], "sentinel")
    await hub.poll_once()
    assert await tail.messages(1) == ["sentinel 0"]
    tail.close()


# -- rollover ---------------------------------------------------------------------------------


async def test_the_next_buckets_exist_with_started_primaries_before_a_line_needs_them(make_api, settings, es):
    """Before storage is ready, every bucket from now to the horizon exists, the first one included."""
    hourly = dataclasses.replace(
        settings, index_granularity="hour", max_future_seconds=3600, index_create_ahead_seconds=600
    )
    api = await make_api(hourly)
    storage = api.http.app[SERVICES].storage
    wanted = storage.upcoming_indices(storage.clock.now_ns())
    assert len(wanted) >= 2  # this hour's and the next one's at least
    health = await es.cluster.health(index=",".join(wanted))
    assert health["active_primary_shards"] == len(wanted) and health["unassigned_primary_shards"] == 0
    assert await storage.prepare_lines_indices() == []  # made before ready: later rounds find them


def test_the_task_wakes_when_the_next_bucket_enters_the_horizon(settings):
    hourly = dataclasses.replace(
        settings, index_granularity="hour", max_future_seconds=60, index_create_ahead_seconds=30
    )
    storage = Storage.from_settings(hourly, hourly.es_url)
    hour = 1_800_000_000 // 3600 * 3600
    # At hh:58:00 the horizon reaches hh:59:30; the next hour enters it at hh:58:30.
    assert seconds_to_next_round(storage, (hour + 3480) * NS_PER_SECOND) == 30
    assert seconds_to_next_round(storage, (hour + 60) * NS_PER_SECOND) == CHECK_SECONDS


# -- the local three-node cluster ---------------------------------------------------------------

VICTIM = 2  # the node killed: cluster-3
CLUSTER_DAYS = 6
LINES_PER_DAY = 100


@pytest.fixture
async def cluster_es(cluster: LocalCluster) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(cluster.urls, max_retries=3, retry_on_timeout=True, request_timeout=60)
    yield client
    await client.close()


@pytest.fixture
async def on_cluster(cluster: LocalCluster, cluster_es: AsyncElasticsearch) -> AsyncIterator[Settings]:
    """Settings of an app that talks to the two nodes that survive; its indices are deleted afterwards."""
    survivors = [url for i, url in enumerate(cluster.urls) if i != VICTIM]
    settings = Settings(
        es_url=",".join(survivors),
        index_prefix=f"lrt-{secrets.token_hex(5)}",
        token_secret="test-secret",
        index_refresh_interval="200ms",
        readiness_interval_seconds=0.2,
        tail_poll_seconds=0.2,
        es_timeout_seconds=10,
    )
    yield settings
    await asyncio.to_thread(cluster.start)  # a test that failed midway may have left the victim down
    await cluster_es.options(ignore_status=404).indices.delete(index=f"{settings.index_prefix}-*")
    await cluster_es.options(ignore_status=404).indices.delete_index_template(name=f"{settings.index_prefix}-*")


async def start_api(aiohttp_client: Any, settings: Settings, token_store: Any) -> ApiClient:
    api = ApiClient(await aiohttp_client(create_app(settings, token_store, settings.es_url)))
    for _ in range(600):
        if (await api.http.get("/readyz")).status == 200:
            return api
        await asyncio.sleep(0.1)
    raise AssertionError("storage did not become ready")


async def place_on_victim(es: AsyncElasticsearch, prefix: str, names: list[str], victim: str) -> None:
    """The primaries of `names` on the victim, every other index of the test elsewhere."""
    others = ",".join([f"{prefix}-*", *(f"-{name}" for name in names)])
    await es.indices.put_settings(index=others, settings={"index.routing.allocation.exclude._name": victim})
    await es.indices.put_settings(index=",".join(names), settings={"index.routing.allocation.require._name": victim})
    await es.cluster.health(index=f"{prefix}-*", wait_for_no_relocating_shards=True, wait_for_status="green")
    shards = (await es.cat.shards(index=",".join(names), format="json")).body
    assert {s["node"] for s in shards if s["prirep"] == "p"} == {victim}


async def page_all(api: ApiClient, token: str | None = None) -> tuple[list[str], list[int]]:
    """Every message from `token` (or the head) on, and the status of each answer; stops at the first refusal."""
    messages: list[str] = []
    statuses: list[int] = []
    while True:
        params = {"labels.job": "partial", "limit": "100", **({"token": token} if token else {})}
        status, text, _ = await answer(api, "/api/v1/lines", params)
        statuses.append(status)
        if status != 200:
            return messages, statuses
        page = orjson.loads(text)
        messages += [line["message"] for line in page["lines"]]
        token = page["newer_token"]
        if not page["has_more_newer"]:
            return messages, statuses


async def days_of_lines(api: ApiClient) -> list[str]:
    today = time.time_ns() // DAY_NS * DAY_NS
    written: list[str] = []
    for day in range(CLUSTER_DAYS - 1, -1, -1):
        base = today - day * DAY_NS + (DAY_NS // 2 if day else 0)
        stamps = [base + i * NS_PER_SECOND for i in range(LINES_PER_DAY)]
        if not day:
            stamps = [time.time_ns() - (LINES_PER_DAY - i) * NS_PER_SECOND // 10 for i in range(LINES_PER_DAY)]
        written += await write(api, JOB, stamps, f"day-{day}")
    return written


@pytest.mark.timeout(600)
async def test_a_killed_primary_makes_every_read_503_and_nothing_is_skipped(
    cluster, cluster_es, on_cluster, aiohttp_client, token_store
):
    """No replica; SIGKILL the node holding two days' primaries, with a tail open; then let it rejoin."""
    settings = dataclasses.replace(on_cluster, index_replicas="0")
    api = await start_api(aiohttp_client, settings, token_store)
    written = await days_of_lines(api)
    await foreign_streams(api)
    layout = layout_of(settings)
    lost_days = [layout.lines_index(yesterday_ns() - d * DAY_NS) for d in (0, 1)]
    victim = cluster.nodes[VICTIM]
    await place_on_victim(cluster_es, settings.index_prefix, lost_days, victim.name)
    paged, statuses = await page_all(api)
    assert paged == written and set(statuses) == {200}
    first = orjson.loads((await answer(api, "/api/v1/lines", {"labels.job": "partial", "limit": "100"}))[1])
    calls = read_calls(first["lines"][-1]["id"])
    tail = await open_tail(api, labels__job="partial")
    late = await write(api, JOB, [yesterday_ns() + 3600 * NS_PER_SECOND], "late yesterday")

    killed_at = time.monotonic()
    assert len(victim.kill()) == 2
    during = [await answer(api, path, params) for _, path, params in calls]
    for (family, path, _), (status, text, headers) in zip(calls, during, strict=True):
        assert status == 503, f"{family} {path}: {status} {text[:300]}"
        assert "Retry-After" in headers
    native_503 = orjson.loads(during[0][1])["error"]
    assert {f"the lines of {layout.bucket_label(name)}" for name in lost_days} <= set(
        native_503["details"]["unavailable"]
    )
    onward, onward_statuses = await page_all(api, first["newer_token"])
    assert onward_statuses[-1] == 503, "paging past the lost days must stop with a 503, never end short"
    while_down = await write(api, JOB, [time.time_ns() + i for i in range(5)], "while down")

    await asyncio.to_thread(cluster.start)
    rejoined_at = time.monotonic()
    await asyncio.to_thread(cluster.wait_for, "wait_for_status=green&wait_for_nodes=3", 180)
    green_at = time.monotonic()
    rest, statuses = await page_all(api, first["newer_token"])
    assert set(statuses) == {200}
    everything, _ = await page_all(api)
    assert sorted(everything) == sorted(written + late + while_down)
    assert [line["message"] for line in first["lines"]] + rest == everything, "the pre-kill token left a gap"
    after = [await answer(api, path, params) for _, path, params in calls]
    assert [status for status, _, _ in after] == [200] * len(calls)
    tailed = await tail.messages(len(late) + len(while_down))
    delivered_at = time.monotonic()
    assert tailed == late + while_down
    tail.close()
    print(
        f"\nnode kill, no replica: {len(written)} lines on {CLUSTER_DAYS} days, "
        f"{2 * LINES_PER_DAY} on {victim.name}; during the outage: statuses {[s for s, _, _ in during]}, "
        f"paging from a pre-kill token gave {len(onward)} lines then {onward_statuses[-1]}; "
        f"after restart: {len(first['lines']) + len(rest)} lines paged, tail delivered {len(tailed)} "
        f"(restart {rejoined_at - killed_at:.1f}s after kill, green {green_at - rejoined_at:.1f}s later, "
        f"tail delivered {delivered_at - green_at:.1f}s after green)"
    )


async def read_whole(api: ApiClient, expected: int, seen: Counter[str]) -> None:
    """Page the stream and search it once; each answer is complete (200) or refused (503), never short."""
    paged, statuses = await page_all(api)
    seen.update(f"page {status}" for status in statuses)
    if statuses[-1] == 200:
        assert len(paged) == expected, f"a short page walk: {len(paged)} of {expected} lines, every answer 200"
    status, text, _ = await answer(api, "/api/v1/search", {"labels.job": "partial", "limit": "1", "interval": "1h"})
    seen[f"search {status}"] += 1
    assert status in (200, 503), text[:300]
    if status == 200:
        found = orjson.loads(text)
        assert found["total"]["value"] == expected, f"a short search: {found['total']} of {expected}"
        assert sum(bucket["count"] for bucket in found["histogram"]) == expected


@pytest.mark.timeout(600)
async def test_reads_during_a_replica_promotion_are_complete_or_503(
    cluster, cluster_es, on_cluster, aiohttp_client, token_store
):
    """One replica; SIGKILL a node that holds primaries while readers page and search without pause."""
    settings = dataclasses.replace(on_cluster, index_replicas="1", index_shards=3)
    api = await start_api(aiohttp_client, settings, token_store)
    written = await days_of_lines(api)
    victim = cluster.nodes[VICTIM]
    await cluster_es.cluster.health(index=f"{settings.index_prefix}-*", wait_for_status="green")
    shards = (await cluster_es.cat.shards(index=f"{settings.index_prefix}-lines-*", format="json")).body
    held = sum(1 for s in shards if s["prirep"] == "p" and s["node"] == victim.name)
    assert held > 0, "the victim holds no primary: nothing would be promoted"
    seen: Counter[str] = Counter()
    await read_whole(api, len(written), seen)
    assert victim.kill()
    killed_at = time.monotonic()
    # Read through the loss and the promotion, until the cluster is back to all primaries active.
    while True:
        await read_whole(api, len(written), seen)
        try:
            health = await cluster_es.cluster.health(index=f"{settings.index_prefix}-*")
        except ApiError:  # no master for a moment, when the victim was the master
            continue
        if health["number_of_nodes"] == 2 and health["unassigned_primary_shards"] == 0 and health["status"] != "red":
            break
    promoted_at = time.monotonic()
    for _ in range(3):
        await read_whole(api, len(written), seen)
    await asyncio.to_thread(cluster.start)
    print(
        f"\nnode kill, one replica: {len(written)} lines, {held} primaries on {victim.name}; "
        f"answers through the promotion {dict(seen)}; promoted {promoted_at - killed_at:.1f}s after the kill"
    )
    assert seen["page 200"] > 0


async def test_a_rollover_during_ingest_and_reads_gives_no_error_and_no_short_answer(
    cluster, cluster_es, on_cluster, aiohttp_client, token_store
):
    """Hourly buckets; the lines' clock is set 6 s before the top of the hour, so the rollover comes in seconds."""
    settings = dataclasses.replace(on_cluster, index_granularity="hour")
    api = await start_api(aiohttp_client, settings, token_store)
    now = time.time_ns()
    boundary = (now // (3600 * NS_PER_SECOND) + 1) * 3600 * NS_PER_SECOND
    shift = boundary - 6 * NS_PER_SECOND - now  # within max_future_seconds (7200 s)
    acknowledged: list[str] = []
    crossed_at: list[float] = []
    stop = asyncio.Event()

    async def ingest() -> None:
        number = 0
        while not stop.is_set():
            stamp = time.time_ns() + shift
            if stamp >= boundary and not crossed_at:
                crossed_at.append(time.time())
            acknowledged.extend(await write(api, JOB, [stamp + i for i in range(10)], f"b{number}"))
            number += 1
            if stamp > boundary + 6 * NS_PER_SECOND:
                stop.set()

    seen: Counter[int] = Counter()
    writer = asyncio.create_task(ingest())
    while not stop.is_set():
        before = len(acknowledged)
        status, text, _ = await answer(api, "/api/v1/search", {"labels.job": "partial", "limit": "1"})
        seen[status] += 1
        assert status == 200, text[:300]
        assert orjson.loads(text)["total"]["value"] >= before, "a search missed acknowledged lines"
        paged, statuses = await page_all(api)
        assert set(statuses) == {200} and len(paged) >= before
    await writer
    paged, _ = await page_all(api)
    assert sorted(paged) == sorted(acknowledged)
    layout = layout_of(settings)
    new_index = layout.lines_index(boundary)
    created = await cluster_es.indices.get_settings(index=new_index, name="index.creation_date")
    created_ms = int(created[new_index]["settings"]["index"]["creation_date"])
    print(
        f"\nrollover: {len(acknowledged)} lines, {seen[200]} searches and page walks, statuses {dict(seen)}; "
        f"{new_index} made {crossed_at[0] - created_ms / 1000:.0f}s before its first line"
    )
    assert created_ms / 1000 < crossed_at[0], "the new bucket was made by its first line, not ahead of it"
