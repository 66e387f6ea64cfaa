"""The live tail across processes: two apps on one index prefix stand for two workers or hosts."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from logriver.core.storage import Storage
from logriver.core.timeutil import NS_PER_MS
from logriver.services import SERVICES
from tests.helpers import ts
from tests.query.test_tail import fast, post
from tests.sse import open_tail

MIN_GAP_SECONDS = 0.3  # between writes; widened to exceed the clocks' measured alignment error


async def _gap_seconds(storages: list[Storage]) -> float:
    """A gap between writes wider than both clocks' alignment error, whatever a busy machine made it.

    Arrival order can only be promised for writes further apart than the clocks may disagree, so
    the test takes the measured error as given rather than requiring it to be small.
    """
    for storage in storages:
        if storage.clock.error_ns is None:
            await storage.align_clock()
        assert storage.clock.error_ns is not None, "the cluster's clock could not be read"
    errors = sum(storage.clock.error_ns or 0 for storage in storages)
    return max(MIN_GAP_SECONDS, 2 * errors / (1000 * NS_PER_MS))


@pytest.mark.parametrize("offset_ms", [-1000, 1000], ids=["writer-behind", "writer-ahead"])
async def test_writer_with_a_skewed_clock_keeps_arrival_order_and_resume(make_api, settings, offset_ms):
    """Without alignment a writer 1 s behind loses lines below the tail's start; 1 s ahead reorders them."""
    reader = await make_api(fast(settings))
    skewed = await make_api(fast(settings, clock_offset_ms=offset_ms))
    gap = await _gap_seconds([app.http.app[SERVICES].storage for app in (reader, skewed)])
    clock = skewed.http.app[SERVICES].storage.clock
    assert abs(clock.correction_ns + offset_ms * NS_PER_MS) <= clock.error_ns
    tail = await open_tail(reader, labels__app="web")
    written = []
    for i in range(3):
        for name, app in (("skewed", skewed), ("local", reader)):
            await post(app, [f"{name} {i}"])
            written.append(f"{name} {i}")
            await asyncio.sleep(gap)
    first = await tail.lines(3)
    assert [e.data["message"] for e in first] == written[:3]
    tail.close()
    resumed = await open_tail(skewed, headers={"Last-Event-ID": first[-1].id}, labels__app="web")
    assert await resumed.messages(3) == written[3:]
    resumed.close()


async def test_lines_reach_the_tail_without_the_periodic_refresh(make_api, settings):
    """Each round refreshes on demand: a tail delivers even when the indices never refresh by themselves."""
    api = await make_api(fast(settings, index_refresh_interval="-1"))
    tail = await open_tail(api, labels__app="web")
    body = {"labels": {"app": "web"}, "lines": [{"@timestamp": ts(), "message": m} for m in ("a", "b")]}
    assert (await api.post_lines(body, refresh=False))["accepted"] == 2
    assert await tail.messages(2) == ["a", "b"]
    assert api.http.app[SERVICES].tail_hub.arrivals.refreshes > 0
    tail.close()


async def test_a_line_accepted_by_one_worker_reaches_a_tail_on_another(make_api, settings):
    first = await make_api(dataclasses.replace(settings))
    second = await make_api(dataclasses.replace(settings))
    tail = await open_tail(second, labels__app="web")
    await post(first, ["from the first worker"])
    await post(second, ["from the second worker"])
    assert await tail.messages(2) == ["from the first worker", "from the second worker"]
    tail.close()
