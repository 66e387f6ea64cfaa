"""Admission control: past LOGRIVER_MAX_INFLIGHT_BYTES a request is told to come back, in its family's envelope."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import orjson

from logriver.core.web import ADMISSION
from tests.helpers import auth, ts

BUDGET = 4096


async def _hold_one_request(api, released: asyncio.Event) -> asyncio.Task:
    """A write whose body arrives in two parts, the second only once `released` is set."""
    body = orjson.dumps([{"@timestamp": ts(), "message": "x" * 3000, "labels": {"app": "slow"}}])

    async def parts() -> AsyncIterator[bytes]:
        yield body[:3500]
        await released.wait()
        yield body[3500:]

    headers = {**auth(), "Content-Type": "application/json"}
    task = asyncio.create_task(api.http.post("/api/v1/lines?refresh=wait_for", data=parts(), headers=headers))
    admission = api.http.server.app[ADMISSION]
    while admission.in_flight == 0:
        await asyncio.sleep(0.01)
    return task


async def test_past_the_budget_each_family_answers_429_with_retry_after(make_api, settings):
    api = await make_api(dataclasses.replace(settings, max_inflight_bytes=BUDGET))
    released = asyncio.Event()
    held = await _hold_one_request(api, released)
    big = orjson.dumps([{"@timestamp": ts(), "message": "y" * 2000}])
    native = await api.http.post("/api/v1/lines", data=big, headers={**auth(), "Content-Type": "application/json"})
    assert native.status == 429 and native.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert (await native.json())["error"]["type"] == "overloaded"
    bulk = b'{"index": {"_index": "logs"}}\n' + orjson.dumps({"message": "z" * 5000}) + b"\n"
    compat = await api.http.post("/es/_bulk", data=bulk, headers={**auth(), "Content-Type": "application/x-ndjson"})
    assert compat.status == 429 and "Retry-After" in compat.headers
    assert (await compat.json())["status"] == 429  # a whole-request 429, as shippers retry it
    iceprod = await api.http.post("/logs", data=orjson.dumps({"data": "d" * 5000}), headers=auth())
    assert iceprod.status == 429 and (await iceprod.json())["code"] == 429
    released.set()
    first = await held
    assert first.status == 200 and (await first.json())["accepted"] == 1
    assert api.http.server.app[ADMISSION].in_flight == 0
    again = await api.http.post("/api/v1/lines", data=big, headers={**auth(), "Content-Type": "application/json"})
    assert again.status == 200, await again.text()


async def test_one_request_alone_is_admitted_whatever_its_size(make_api, settings):
    api = await make_api(dataclasses.replace(settings, max_inflight_bytes=100))
    lines = [{"@timestamp": ts(), "message": "m" * 1000, "labels": {"app": "big"}}]
    assert (await api.post_lines(lines))["accepted"] == 1
    assert api.http.server.app[ADMISSION].in_flight == 0
