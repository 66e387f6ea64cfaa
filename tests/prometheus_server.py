"""A real Prometheus server (Debian's `prometheus` package) that scrapes logriver on loopback."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.esnodes import held_port

SCRAPE_INTERVAL = "1s"
WAIT_SECONDS = 60.0  # how long a query may take to show what was sent: a few scrapes, on a loaded machine


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed: .ci/run installs Debian's prometheus package")
    return path


class Prometheus:
    """Prometheus's own HTTP query API, for assertions."""

    def __init__(self, url: str, http: aiohttp.ClientSession):
        self.url = url
        self.http = http

    async def query(self, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query's vector, by its labels (without `__name__`, `job` and `instance`)."""
        async with self.http.get(f"{self.url}/api/v1/query", params={"query": promql}) as response:
            body = await response.json()
        assert body["status"] == "success", body
        return {_labels(item["metric"]): float(item["value"][1]) for item in body["data"]["result"]}

    async def wait_for(self, promql: str, expected: dict[tuple[tuple[str, str], ...], float]) -> None:
        """Until the query answers exactly `expected`; fails with the last answer after WAIT_SECONDS."""
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        answer = await self.query(promql)
        while answer != expected and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            answer = await self.query(promql)
        assert answer == expected, f"{promql}: {answer} != {expected}"

    async def rules(self) -> dict[str, dict[str, Any]]:
        """The loaded rules by name, as `/api/v1/rules` reports them (health, lastError, ...)."""
        async with self.http.get(f"{self.url}/api/v1/rules") as response:
            body = await response.json()
        return {rule["name"]: rule for group in body["data"]["groups"] for rule in group["rules"]}

    async def targets_up(self) -> float:
        return sum((await self.query('up{job="logriver"}')).values())


def _labels(metric: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in metric.items() if k not in ("__name__", "job", "instance")))


def series(**labels: str) -> tuple[tuple[str, str], ...]:
    """The key `Prometheus.query` gives the series with these labels."""
    return tuple(sorted(labels.items()))


@asynccontextmanager
async def running_prometheus(target_port: int, workdir: Path, rules: str = "") -> AsyncIterator[Prometheus]:
    """Prometheus on a held loopback port, scraping `127.0.0.1:target_port/metrics` every second.

    `rules`: the text of a rule file to load and evaluate every second.
    """
    binary = require_binary("prometheus")
    config = workdir / "prometheus.yml"
    (workdir / "rules.yml").write_text(rules or "groups: []\n")
    config.write_text(
        "global:\n"
        f"  scrape_interval: {SCRAPE_INTERVAL}\n"
        f"  evaluation_interval: {SCRAPE_INTERVAL}\n"
        f"rule_files: ['{workdir / 'rules.yml'}']\n"
        "scrape_configs:\n"
        "  - job_name: logriver\n"
        f"    scrape_interval: {SCRAPE_INTERVAL}\n"
        f"    scrape_timeout: {SCRAPE_INTERVAL}\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n"
    )
    with held_port() as port:  # held until Prometheus is gone: never found free and lost before it binds
        log = workdir / "prometheus.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=out,
                stderr=out,
            )
        try:
            async with aiohttp.ClientSession() as http:
                prometheus = Prometheus(f"http://127.0.0.1:{port}", http)
                await _wait_until_ready(prometheus, process, log)
                yield prometheus
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 30)


async def _wait_until_ready(prometheus: Prometheus, process: subprocess.Popen[bytes], log: Path) -> None:
    """Ready, and its first scrape of logriver succeeded."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while asyncio.get_running_loop().time() < deadline and process.poll() is None:
        try:
            if await prometheus.targets_up() == 1:
                return
        except (aiohttp.ClientError, aiohttp.ContentTypeError):
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"prometheus never scraped logriver:\n{log.read_text()[-3000:]}")


def promtool_check(exposition: bytes) -> str:
    """What `promtool check metrics` says about an exposition ('' when it finds nothing)."""
    result = subprocess.run(
        [require_binary("promtool"), "check", "metrics"], input=exposition, capture_output=True, timeout=60, check=False
    )
    return (result.stdout + result.stderr).decode() + ("" if result.returncode == 0 else f"exit {result.returncode}")
