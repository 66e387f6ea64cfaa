"""The metrics of one process: bounded labels, who may scrape, and what each instrument counts."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from logriver.app import SERVER_OPTIONS, create_app
from logriver.core.admission import Admission, Reservation
from logriver.core.errors import OverloadedError
from logriver.core.metrics import OTHER_REASON, PROTOCOLS, UNMATCHED_ROUTE, Metrics
from logriver.core.rejections import reason_codes
from logriver.core.settings import Settings, SettingsError
from logriver.services import SERVICES
from tests.helpers import auth, ts
from tests.sse import open_tail


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_code_outside_the_rejection_reasons_is_counted_as_other() -> None:
    metrics = Metrics()
    metrics.protocol("native").rejected(["too_old", "too_old", "made up by a bug"])
    assert value(metrics, "logriver_lines_rejected_total", protocol="native", reason="too_old") == 2
    assert value(metrics, "logriver_lines_rejected_total", protocol="native", reason=OTHER_REASON) == 1
    assert value(metrics, "logriver_lines_rejected_total", protocol="native", reason="made up by a bug") is None


def test_every_metric_and_label_value_is_documented() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    exposed = text_string_to_metric_families(Metrics().exposition().decode())
    names = {f.name + "_total" if f.type == "counter" else f.name for f in exposed}
    values = {*names, *PROTOCOLS, *reason_codes(), OTHER_REASON, UNMATCHED_ROUTE}
    assert len(names) == 13 and {value for value in values if f"`{value}`" not in page} == set()


def test_an_unknown_protocol_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'gelf'"):
        Metrics().protocol("gelf")


async def test_admission_reports_bytes_in_flight_and_refusals() -> None:
    metrics = Metrics()
    admission = Admission(budget_bytes=100, wait_seconds=0, metrics=metrics)
    held = Reservation()
    await admission.reserve(held, 80)
    assert value(metrics, "logriver_admission_bytes_in_flight") == 80
    with pytest.raises(OverloadedError):
        await admission.reserve(Reservation(), 30)
    assert value(metrics, "logriver_admission_refused_total") == 1
    await admission.release(held)
    assert value(metrics, "logriver_admission_bytes_in_flight") == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics_access": "everyone"}, "LOGRIVER_METRICS_ACCESS must be one of loopback, token, open"),
        ({"metrics_access": "token"}, "LOGRIVER_METRICS_ACCESS=token needs LOGRIVER_METRICS_TOKEN"),
    ],
)
def test_metrics_access_settings_are_checked(changes: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings(**changes).validate()


async def test_routes_are_templates_and_unknown_paths_one_value(api):
    for i in range(5):
        await api.http.get(f"/api/v1/lines/line-{i}", headers=auth())
        await api.http.get(f"/no/such/path/{i}")
        await api.http.delete(f"/api/v1/search/{i}", headers=auth())
    metrics = api.http.app[SERVICES].metrics
    count = "logriver_http_request_duration_seconds_count"
    assert value(metrics, count, family="native", route="/api/v1/lines/{line_id}", code="404") == 5
    assert value(metrics, count, family="root", route="unmatched", code="404") == 5
    assert value(metrics, count, family="native", route="unmatched", code="404") == 5
    text = (await (await api.http.get("/metrics")).read()).decode()
    assert "line-0" not in text and "/no/such" not in text


async def test_storage_readiness_is_a_gauge(api, settings: Settings, token_store):
    assert value(api.http.app[SERVICES].metrics, "logriver_storage_ready") == 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    app = create_app(settings, token_store, closed)
    server = TestServer(app)
    await server.start_server(**SERVER_OPTIONS)  # before `async with`, which then finds it started
    async with server, aiohttp.ClientSession() as http:
        await app[SERVICES].storage.check()
        async with http.get(server.make_url("/metrics")) as response:
            assert "logriver_storage_ready 0.0" in await response.text()


async def test_tail_metrics_follow_connections_and_lines(api):
    metrics = api.http.app[SERVICES].metrics
    tail = await open_tail(api, labels__app="tailm")
    assert value(metrics, "logriver_tail_connections") == 1
    await api.post_lines({"labels": {"app": "tailm"}, "lines": [{"@timestamp": ts(), "message": "seen"}]})
    assert await tail.messages(1) == ["seen"]
    assert value(metrics, "logriver_tail_lines_delivered_total") == 1
    tail.close()
    deadline = asyncio.get_running_loop().time() + 30
    while value(metrics, "logriver_tail_connections") != 0:
        assert asyncio.get_running_loop().time() < deadline, "the closed tail still counts"
        await asyncio.sleep(0.05)


def non_loopback_address() -> str:
    """This host's address on its default route (no packet is sent), or a skip."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.1", 9))  # TEST-NET-3: only picks the outgoing interface
        except OSError:
            pytest.skip("no network interface besides loopback")
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("no network interface besides loopback")
    return address


@pytest.fixture
async def reachable(settings: Settings, token_store, es_url: str):
    """Serve the app on every interface; scrape it from loopback or from this host's own address."""
    servers: list[TestServer] = []

    async def serve(**changes: str) -> TestServer:
        server = TestServer(create_app(dataclasses.replace(settings, **changes), token_store, es_url), host="0.0.0.0")
        await server.start_server(**SERVER_OPTIONS)  # the server's options go here: TestServer() drops them
        servers.append(server)
        return server

    yield serve
    for server in servers:
        await server.close()


async def scrape(host: str, port: int, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}/metrics", headers=headers) as answer:
        return answer.status


async def statuses(server: TestServer, address: str) -> AsyncIterator[int]:
    for host, token in (("127.0.0.1", None), (address, None), (address, "wrong"), (address, "scrape-me")):
        yield await scrape(host, server.port or 0, token)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, [200, 403, 403, 403]),  # loopback only: no token is configured
        ({"metrics_token": "scrape-me"}, [200, 401, 401, 200]),
        ({"metrics_access": "token", "metrics_token": "scrape-me"}, [401, 401, 401, 200]),
        ({"metrics_access": "open"}, [200, 200, 200, 200]),
    ],
)
async def test_who_may_scrape(reachable, changes: dict[str, str], expected: list[int]):
    address = non_loopback_address()
    server = await reachable(**changes)
    assert [status async for status in statuses(server, address)] == expected
