"""Admission control through the real app: a request holding the budget makes others wait, then 429."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.helpers import auth, ts

LINES = [{"labels": {"job": "admission"}, "@timestamp": ts(-i), "message": f"held {i}"} for i in range(50)]


class StalledWrite:
    """A POST whose declared body is only half sent: it holds its admitted bytes until finished."""

    def __init__(self, host: str, port: int, body: bytes):
        self.host, self.port, self.body = host, port, body
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            "POST /api/v1/lines?refresh=wait_for HTTP/1.1\r\n"
            f"Host: {self.host}\r\nAuthorization: {auth()['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        self.writer.write(head.encode() + self.body[: len(self.body) // 2])
        await self.writer.drain()

    async def finish(self) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.body[len(self.body) // 2 :])
        await self.writer.drain()
        raw = await self.reader.read()
        self.writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), payload


@pytest.fixture
async def stalled(make_api, settings) -> AsyncIterator[tuple[object, StalledWrite]]:
    body = orjson.dumps(LINES)
    # The held request alone fills the budget; others may not wait for it.
    api = await make_api(dataclasses.replace(settings, max_inflight_bytes=len(body), admission_wait_seconds=0.2))
    write = StalledWrite(api.http.server.host, api.http.server.port, body)
    await write.start()
    await asyncio.sleep(0.2)  # the server has read the head and admitted the declared length
    yield api, write
    if write.writer is not None and not write.writer.is_closing():
        write.writer.close()


async def test_native_write_waits_then_gets_429_with_retry_after(stalled) -> None:
    api, held = stalled
    response = await api.http.post("/api/v1/lines", json=LINES[:1], headers=auth())
    body = await response.json()
    assert response.status == 429 and response.headers["Retry-After"]
    assert body["error"]["type"] == "overloaded"
    assert body["error"]["details"]["limit"] == "max_inflight_bytes"
    status, payload = await held.finish()
    assert status == 200 and orjson.loads(payload)["accepted"] == len(LINES)
    retried = await api.post_lines(LINES[:1])
    assert retried["accepted"] == 1


async def test_bulk_gets_a_whole_request_429_in_elasticsearch_shape(stalled) -> None:
    api, held = stalled
    bulk = b'{"create":{"_index":"logs"}}\n{"message":"m"}\n'
    response = await api.http.post("/es/_bulk", data=bulk, headers={**auth(), "Content-Type": "application/x-ndjson"})
    body = await response.json()
    assert response.status == 429 and response.headers["Retry-After"]
    assert body["status"] == 429 and body["error"]["type"] == "es_rejected_execution_exception"
    assert response.headers["X-Elastic-Product"] == "Elasticsearch"
    assert (await held.finish())[0] == 200


async def test_reads_are_not_held_back(stalled) -> None:
    api, held = stalled
    found = await api.get("/api/v1/streams")
    assert "streams" in found
    assert (await held.finish())[0] == 200
    lines = await api.get_lines(labels__job="admission", limit=100)
    assert sorted(line["message"] for line in lines["lines"]) == sorted(line["message"] for line in LINES)
