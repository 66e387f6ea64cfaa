"""`serve --workers 2` as real processes under a real Prometheus: one scrape gives the service's totals.

A worker is killed by pid with SIGKILL: its counts stay in the totals (nothing goes backwards),
its successor adds to them (nothing counted twice), and its open tail leaves the gauge.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from logriver.core.web import WORKER_HEADER
from tests.helpers import ts
from tests.prometheus_server import Prometheus, promtool_check, running_prometheus, series
from tests.test_workers import Served, serve_two_workers

MAX_REQUESTS = 200  # new connections tried until both workers have answered


@pytest.fixture
async def served(es, es_url: str, index_prefix: str, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_two_workers(es_url, index_prefix, tmp_path, "metrics-workers-secret") as served:
        yield served


async def post_lines(served: Served) -> int:
    """Three lines, one without @timestamp, on a new connection; the pid of the worker that took them."""
    lines = [{"@timestamp": ts(), "message": f"m{i}", "labels": {"job": "mw"}} for i in range(2)] + [{"message": "x"}]
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
        http.post(f"{served.url}/api/v1/lines", json=lines, headers=served.headers) as response,
    ):
        assert response.status == 200, await response.text()
        assert len((await response.json())["rejected"]) == 1
        return int(response.headers[WORKER_HEADER].rsplit(":", 1)[1])


async def wait_until_ready(served: Served, workers: set[int]) -> None:
    """Until each worker has answered /readyz with 200: before that a write would be answered 503,
    after its lines were counted as received, and the client's retry would count them again."""
    ready: set[int] = set()
    for _ in range(MAX_REQUESTS):
        try:
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
                http.get(f"{served.url}/readyz") as response,
            ):
                if response.status == 200:
                    ready.add(int(response.headers[WORKER_HEADER].rsplit(":", 1)[1]))
        except aiohttp.ClientConnectionError:
            pass  # a worker not listening yet
        if ready >= workers:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"only {ready} of {workers} became ready")


async def post_until_both_answered(served: Served, workers: set[int]) -> int:
    """Requests until each worker has taken at least one; how many were sent."""
    answered: set[int] = set()
    sent = 0
    while answered != workers:
        assert sent < MAX_REQUESTS, f"only {answered} of {workers} answered"
        answered.add(await post_lines(served))
        sent += 1
    return sent


async def expect_totals(prometheus: Prometheus, served: Served, requests: int) -> None:
    """Prometheus and a direct scrape both show every request's lines exactly once."""
    await prometheus.wait_for(
        'logriver_lines_received_total{protocol="native"}', {series(protocol="native"): 3.0 * requests}
    )
    await prometheus.wait_for(
        'logriver_lines_rejected_total{protocol="native"} > 0',
        {series(protocol="native", reason="missing_field"): requests},
    )
    samples = await scrape(served)
    assert samples[("logriver_lines_received_total", series(protocol="native"))] == 3 * requests


async def scrape(served: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(f"{served.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert promtool_check(text.encode()) == ""
    return {
        (sample.name, series(**sample.labels)): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def open_tail(http: aiohttp.ClientSession, served: Served) -> tuple[aiohttp.ClientResponse, int]:
    response = await http.get(f"{served.url}/api/v1/tail?labels.job=mw", headers=served.headers)
    assert response.status == 200
    await response.content.readuntil(b"event: open")
    return response, int(response.headers[WORKER_HEADER].rsplit(":", 1)[1])


async def test_totals_span_workers_and_survive_a_killed_worker(served: Served, tmp_path: Path):
    workers = await served.wait_for_workers()
    await wait_until_ready(served, workers)
    async with running_prometheus(served.port, tmp_path) as prometheus:
        first = await post_until_both_answered(served, workers)
        await expect_totals(prometheus, served, first)
        await prometheus.wait_for("logriver_storage_ready", {(): 1.0})

        async with aiohttp.ClientSession() as http:
            tail, victim = await open_tail(http, served)
            await prometheus.wait_for("logriver_tail_connections", {(): 1.0})
            os.kill(victim, signal.SIGKILL)
            replaced = await served.wait_for_workers(replaced={victim})
            await wait_until_ready(served, replaced)
            tail.close()

        # The dead worker's counts stay, nothing was counted twice, and its tail is gone.
        await expect_totals(prometheus, served, first)
        await prometheus.wait_for("logriver_tail_connections", {(): 0.0})
        second = await post_until_both_answered(served, replaced)
        await expect_totals(prometheus, served, first + second)
        await prometheus.wait_for(
            "resets(logriver_lines_received_total[10m])",
            {series(protocol=p): 0.0 for p in ("native", "es_bulk", "otlp", "loki", "iceprod")},
        )
        await prometheus.wait_for("logriver_storage_ready", {(): 1.0})
