"""Loki push from real Loki clients (winston-loki protobuf+snappy, pino-loki and python-logging-loki JSON)."""

from __future__ import annotations

import asyncio
import logging
import time

import logging_loki
import orjson
import pytest
import requests

from logriver.core.timeutil import parse_rfc3339_ns
from tests.adapters.protocol_clients import ensure_node_clients, read_stream, run_node


@pytest.fixture(scope="module")
def node_clients() -> None:
    ensure_node_clients()


def push_config(api, client: str, job: str, count: int, **extra) -> dict:
    host = str(api.http.make_url("/")).rstrip("/")
    return {"client": client, "host": host, "token": "write-acme", "count": count, "job": job, **extra}


async def test_winston_loki_protobuf_snappy_lines_read_back_exactly(make_api, node_clients):
    api = await make_api()
    base_ms = int(time.time() * 1000) - 60_000
    report = await run_node(
        "loki_push.js", push_config(api, "winston", "winston-test", 500, baseMs=base_ms, orgId="acme")
    )
    assert report == {"errors": [], "contentType": "application/x-protobuf"}
    lines = [
        *await read_stream(api, 333, job="winston-test", level="info"),
        *await read_stream(api, 167, job="winston-test", level="warn"),
    ]
    lines.sort(key=lambda line: parse_rfc3339_ns(line["@timestamp"]))
    assert [line["message"] for line in lines] == [f"winston line {i} ✓" for i in range(500)]
    assert [parse_rfc3339_ns(line["@timestamp"]) for line in lines] == [(base_ms + i) * 10**6 for i in range(500)]
    assert all(
        line["labels"] == {"job": "winston-test", "level": "warn" if i % 3 == 0 else "info"}
        for i, line in enumerate(lines)
    )


async def test_pino_loki_json_lines_and_structured_metadata_read_back_exactly(make_api, node_clients):
    api = await make_api()
    await run_node("loki_push.js", push_config(api, "pino", "pino-test", 300))
    lines = await read_stream(api, 300, job="pino-test")
    assert len(lines) == 300
    for i, line in enumerate(lines):
        logged = orjson.loads(line["message"])
        assert logged["msg"] == f"pino line {i}"
        assert parse_rfc3339_ns(line["@timestamp"]) == logged["time"] * 10**6
        assert line["labels"] == {"job": "pino-test", "level": "info", "hostname": "pino-host"}
        assert line["fields"] == {"request_id": f"r{i}", "attempt": str(i % 4)}


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str):
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def log_with_python_loki(url: str, count: int) -> None:
    handler = logging_loki.LokiHandler(url=url, tags={"job": "python-test"}, auth=Bearer("write-acme"), version="1")
    logger = logging.getLogger(f"python-loki-{time.time_ns()}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(count):
            logger.warning("python line %d", i, extra={"tags": {"run": "r1"}})
    finally:
        handler.close()


async def test_python_logging_loki_json_lines_read_back(make_api):
    api = await make_api()
    before = time.time_ns()
    await asyncio.to_thread(log_with_python_loki, str(api.http.make_url("/loki/api/v1/push")), 40)
    lines = await read_stream(api, 40, job="python-test")
    assert [line["message"] for line in lines] == [f"python line {i}" for i in range(40)]
    assert all(line["labels"]["run"] == "r1" and line["labels"]["severity"] == "warning" for line in lines)
    assert all(before <= parse_rfc3339_ns(line["@timestamp"]) <= time.time_ns() for line in lines)
