"""`logriver serve --workers N` as real processes: one port, shared tokens, a worker killed mid-ingest."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from logriver.cli import main
from logriver.core.web import WORKER_HEADER
from tests.helpers import ts

CLIENTS, BATCHES, LINES = 4, 30, 20  # 2400 lines in 120 requests
KILL_AFTER = 30  # acknowledged requests before one worker is killed
MAX_ATTEMPTS = 60
START_SECONDS = 60.0


def test_several_workers_need_a_token_secret(monkeypatch, capsys):
    monkeypatch.delenv("LOGRIVER_TOKEN_SECRET", raising=False)
    assert main(["serve", "--dev", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "--workers 2 needs LOGRIVER_TOKEN_SECRET" in err and "token_hex" in err


def test_worker_count_must_be_positive(monkeypatch, capsys):
    monkeypatch.setenv("LOGRIVER_TOKEN_SECRET", "s")
    assert main(["serve", "--dev", "--workers", "0"]) == 1
    assert "LOGRIVER_WORKERS (--workers) must be at least 1" in capsys.readouterr().err


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


class Served:
    """A running `logriver serve --workers 2`: its port, supervisor pid and workers' pids."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path):
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": "Bearer w-admin"}

    def workers(self) -> set[int]:
        """Children that run a worker (multiprocessing also starts a resource tracker)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        children = [int(pid) for pid in path.read_text().split()] if path.exists() else []
        return {pid for pid in children if b"spawn_main" in _cmdline(pid)}

    async def wait_for_workers(self, replaced: set[int] | frozenset[int] = frozenset()) -> set[int]:
        """The two workers, once two run and, if given, one of `replaced` has been replaced."""
        deadline = asyncio.get_running_loop().time() + START_SECONDS
        while len(pids := self.workers()) != 2 or (replaced and not replaced - pids):
            assert asyncio.get_running_loop().time() < deadline, f"workers now: {pids}"
            await asyncio.sleep(0.1)
        return pids


@contextlib.asynccontextmanager
async def serve_two_workers(
    es_url: str, index_prefix: str, tmp_path: Path, secret: str, **settings: str
) -> AsyncIterator[Served]:
    """`logriver serve --workers 2` as a real process on a port the supervisor picks; stopped with SIGTERM.

    `settings` are more LOGRIVER_* variables.
    """
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"tokens": [{"token": "w-admin", "tenant": "acme", "roles": ["admin"]}]}))
    env = {
        **os.environ,
        "LOGRIVER_ES_URL": es_url,
        "LOGRIVER_AUTH_FILE": str(auth),
        "LOGRIVER_INDEX_PREFIX": index_prefix,
        "LOGRIVER_TOKEN_SECRET": secret,
        "LOGRIVER_PORT": "0",  # the supervisor resolves it once and prints it
        **settings,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the supervisor makes its own
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "logriver.cli", "serve", "--workers", "2"], env=env, stdout=out, stderr=out
        )
    try:
        yield Served(process, await _printed_port(process, log), log)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 60)


@pytest.fixture
async def served(es, es_url: str, index_prefix: str, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_two_workers(es_url, index_prefix, tmp_path, "workers-test-secret") as served:
        yield served


async def _printed_port(process: subprocess.Popen[bytes], log: Path) -> int:
    deadline = asyncio.get_running_loop().time() + START_SECONDS
    while asyncio.get_running_loop().time() < deadline and process.poll() is None:
        if match := re.search(r"2 workers on port (\d+)", log.read_text()):
            return int(match.group(1))
        await asyncio.sleep(0.1)
    raise AssertionError(f"logriver serve did not listen:\n{log.read_text()}")


async def _post_until_acknowledged(http: aiohttp.ClientSession, served: Served, body: bytes, query: str = "") -> None:
    """What the README asks of clients: retry the whole request on 503/429 or a lost connection."""
    for _ in range(MAX_ATTEMPTS):
        try:
            async with http.post(
                f"{served.url}/api/v1/lines{query}",
                data=body,
                headers={**served.headers, "Content-Type": "application/json"},
            ) as response:
                if response.status == 200:
                    assert (await response.json())["rejected"] == []
                    return
                assert response.status in (429, 503), await response.text()
        except (aiohttp.ClientConnectionError, TimeoutError):
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("a request was never acknowledged")


async def _client(served: Served, number: int, acknowledged: list[int]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for batch in range(BATCHES):
            lines = [{"@timestamp": ts(), "message": f"c{number}-b{batch}-l{n}"} for n in range(LINES)]
            body = json.dumps({"labels": {"client": str(number)}, "lines": lines}).encode()
            await _post_until_acknowledged(http, served, body)
            acknowledged.append(LINES)


async def _get_served_by(served: Served, path: str, wanted: Callable[[int], bool]) -> tuple[int, dict]:
    """GET on fresh connections until a worker whose pid is `wanted` answers: (pid, body)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            async with aiohttp.ClientSession() as http, http.get(served.url + path, headers=served.headers) as answer:
                pid = int(answer.headers[WORKER_HEADER].rpartition(":")[2])
                if wanted(pid) and answer.status != 503:  # 503: that worker's storage is not ready yet
                    assert answer.status == 200, await answer.text()
                    return pid, await answer.json()
        except aiohttp.ClientConnectionError:
            pass  # the workers are not listening yet
        await asyncio.sleep(0.1)
    raise AssertionError(f"no wanted worker answered {path}")


@pytest.mark.timeout(240)
async def test_killing_a_worker_during_ingest_loses_nothing(served, es, index_prefix):
    first = await served.wait_for_workers()
    head = "/api/v1/lines?labels.client=0&limit=5&from=head"
    victim, empty = await _get_served_by(served, head, lambda pid: True)  # the worker that issues the token dies
    acknowledged: list[int] = []
    clients = [asyncio.create_task(_client(served, n, acknowledged)) for n in range(CLIENTS)]
    while len(acknowledged) < KILL_AFTER:
        await asyncio.sleep(0.02)
    os.kill(victim, signal.SIGKILL)
    await asyncio.gather(*clients)
    now = await served.wait_for_workers(replaced=first)

    await es.indices.refresh(index=f"{index_prefix}-lines-*")
    found = await es.search(
        index=f"{index_prefix}-lines-*", size=CLIENTS * BATCHES * LINES + 10, _source=["message"], track_total_hits=True
    )
    messages = sorted(hit["_source"]["message"] for hit in found["hits"]["hits"])
    expected = sorted(f"c{c}-b{b}-l{n}" for c in range(CLIENTS) for b in range(BATCHES) for n in range(LINES))
    assert sum(acknowledged) == len(expected)
    assert found["hits"]["total"]["value"] == len(expected)  # nothing lost, nothing stored twice
    assert messages == expected
    assert victim not in now and len(now - first) == 1  # the supervisor started one worker in its place
    assert f"worker {victim} exited with code -9" in served.log.read_text()
    # The token the dead worker issued before any line existed works on its replacement.
    following = f"/api/v1/lines?labels.client=0&limit=5&token={empty['newer_token']}"
    _, page = await _get_served_by(served, following, lambda pid: pid in now - first)
    assert [line["message"] for line in page["lines"]] == [f"c0-b0-l{n}" for n in range(5)]


async def test_a_page_token_from_one_worker_is_accepted_by_another(served):
    await served.wait_for_workers()
    lines = [{"@timestamp": ts(), "message": f"line {n}"} for n in range(4)]
    body = json.dumps({"labels": {"app": "tokens"}, "lines": lines}).encode()
    async with aiohttp.ClientSession() as http:
        await _post_until_acknowledged(http, served, body, "?refresh=wait_for")
        path = "/api/v1/lines?labels.app=tokens&limit=2&from=head"
        async with http.get(served.url + path, headers=served.headers) as response:
            assert response.status == 200, await response.text()
            issuer, page = response.headers[WORKER_HEADER], await response.json()
    token, issuer_pid = page["newer_token"], int(issuer.rpartition(":")[2])
    path = f"/api/v1/lines?labels.app=tokens&limit=2&token={token}"
    _, following = await _get_served_by(served, path, lambda pid: pid != issuer_pid)
    assert [line["message"] for line in page["lines"] + following["lines"]] == [f"line {n}" for n in range(4)]


async def test_the_workers_inflate_bodies_themselves(served):
    """The processes `logriver serve` starts decode bodies as the tests' servers do (SERVER_OPTIONS)."""
    for worker in await served.wait_for_workers():  # both listening and ready, whichever one answers
        await _get_served_by(served, "/readyz", lambda pid, worker=worker: pid == worker)
    body = json.dumps([{"@timestamp": ts(), "message": "zipped"}]).encode()
    headers = {**served.headers, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:  # one kept-alive connection for both requests
        broken = zlib.compress(body)[:-3]
        async with http.post(
            served.url + "/api/v1/lines", data=broken, headers={**headers, "Content-Encoding": "deflate"}
        ) as answer:
            assert answer.status == 400 and (await answer.json())["error"]["type"] == "invalid_encoding"
        # Inflated twice (by the HTTP server, then by the service), a valid body would be a 400.
        async with http.post(
            served.url + "/api/v1/lines", data=gzip.compress(body), headers={**headers, "Content-Encoding": "gzip"}
        ) as answer:
            assert answer.status == 200, await answer.text()
            assert (await answer.json())["accepted"] == 1


async def test_each_request_is_in_the_access_log_unless_it_is_turned_off(served, es, es_url, index_prefix, tmp_path):
    await served.wait_for_workers()
    await _get_served_by(served, "/healthz?probe=on", lambda pid: True)
    (tmp_path / "quiet").mkdir()
    async with serve_two_workers(
        es_url, index_prefix, tmp_path / "quiet", "workers-test-secret", LOGRIVER_ACCESS_LOG="false"
    ) as quiet:
        await quiet.wait_for_workers()
        await _get_served_by(quiet, "/healthz?probe=off", lambda pid: True)
        await asyncio.sleep(0.5)  # a line is written after its answer
        assert "/healthz" not in quiet.log.read_text()
    assert '"GET /healthz?probe=on HTTP/1.1" 200' in served.log.read_text()
