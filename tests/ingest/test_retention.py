"""Retention deletes whole expired indices, never the current ones."""

from __future__ import annotations

import dataclasses
import time

from logriver.ingest.retention import delete_expired, expired_indices
from logriver.services import SERVICES
from tests.helpers import ts

HOUR_NS = 3600 * 1_000_000_000


async def test_expired_hour_indices_are_deleted(make_api, settings, es, index_prefix):
    api = await make_api(dataclasses.replace(settings, index_granularity="hour", retention_days=1))
    await api.post_lines(
        {
            "labels": {"r": "1"},
            "lines": [{"@timestamp": ts(-3 * 3600), "message": "old"}, {"@timestamp": ts(), "message": "new"}],
        }
    )
    storage = api.http.server.app[SERVICES].storage
    later = time.time_ns() + 24 * HOUR_NS - HOUR_NS
    old_index = storage.layout.lines_index(time.time_ns() - 3 * HOUR_NS)
    assert await expired_indices(storage, later) == [old_index]
    assert await delete_expired(storage, later) == [old_index]
    remaining = await es.indices.get(index=f"{index_prefix}-lines-*")
    # Left: the index of "new" and the buckets made ahead of time (ingest/rollover.py).
    assert old_index not in remaining and storage.layout.lines_index(time.time_ns()) in remaining
    assert await expired_indices(storage, later) == []
    assert [line["message"] for line in (await api.get_lines(labels__r="1"))["lines"]] == ["new"]


async def test_zero_retention_keeps_everything(make_api, settings):
    api = await make_api(dataclasses.replace(settings, retention_days=0))
    result = await api.post_lines([{"@timestamp": "2001-01-01T00:00:00Z", "message": "ancient"}])
    assert result["accepted"] == 1
    assert await expired_indices(api.http.server.app[SERVICES].storage, time.time_ns()) == []
