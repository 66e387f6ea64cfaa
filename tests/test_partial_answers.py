"""Never a silent partial answer: a read that meets a shard that cannot answer says so with a 503.

The failures are real. On the one test node: a lines index whose primary cannot be allocated
(closed, then reopened with an allocation filter that names no node: its primary is gone as
when its node dies without a replica), and a closed index. On the local three-node cluster
(tests/partial_cluster.py): the node holding a primary is killed with SIGKILL.
"""

from __future__ import annotations

import dataclasses
import time

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from logriver.core.errors import StorageUnavailableError
from logriver.core.indices import layout_of
from logriver.core.settings import Settings
from logriver.core.storage import Storage
from logriver.core.timeutil import NS_PER_SECOND
from logriver.ingest.rollover import CHECK_SECONDS, create_upcoming, seconds_to_next_round, upcoming_indices
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


async def test_an_index_older_than_retention_is_no_error_closed_or_red(make_api, settings, es):
    """Retention's leftovers hold nothing a reader may ask for: they never fail a read."""
    api = await make_api(dataclasses.replace(settings, retention_days=2))
    _, new = await two_days(api)
    red, closed = (layout_of(settings).lines_index(time.time_ns() - d * DAY_NS) for d in (5, 6))
    for index in (red, closed):
        await es.indices.create(index=index, wait_for_active_shards="1")
    await es.indices.close(index=closed)
    await lose_primary(es, red)
    page = await api.get_lines(labels__job="partial", limit=1000)
    assert [line["message"] for line in page["lines"]][-len(new) :] == new


async def test_a_tail_poll_that_fails_does_not_advance_and_delivers_once_in_order(make_api, settings, es):
    # Rounds are driven below; a refresh waits for a lost primary, so storage calls give up soon.
    api = await make_api(dataclasses.replace(settings, tail_poll_seconds=3600, es_timeout_seconds=10))
    hub = api.http.app[SERVICES].tail_hub
    hub.settle_seconds = 0  # the writes below wait for refresh: every line is visible at once
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
    """At start-up the task makes every bucket from now to the horizon, the current (first) one included."""
    hourly = dataclasses.replace(
        settings, index_granularity="hour", max_future_seconds=3600, index_create_ahead_seconds=600
    )
    api = await make_api(hourly)
    storage = api.http.app[SERVICES].storage
    wanted = upcoming_indices(storage, storage.clock.now_ns())
    assert len(wanted) >= 2  # this hour's and the next one's at least
    await create_upcoming(storage, set())  # racing the task's own round: either way it returns once they started
    health = await es.cluster.health(index=",".join(wanted))
    assert health["active_primary_shards"] == len(wanted) and health["unassigned_primary_shards"] == 0
    assert await create_upcoming(storage, set()) == []  # made once: a second round finds them


def test_the_task_wakes_when_the_next_bucket_enters_the_horizon(settings):
    hourly = dataclasses.replace(
        settings, index_granularity="hour", max_future_seconds=60, index_create_ahead_seconds=30
    )
    storage = Storage.from_settings(hourly, hourly.es_url)
    hour = 1_800_000_000 // 3600 * 3600
    # At hh:58:00 the horizon reaches hh:59:30; the next hour enters it at hh:58:30.
    assert seconds_to_next_round(storage, (hour + 3480) * NS_PER_SECOND) == 30
    assert seconds_to_next_round(storage, (hour + 60) * NS_PER_SECOND) == CHECK_SECONDS
