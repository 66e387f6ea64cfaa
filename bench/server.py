"""The real service, `logriver serve`, in its own process on a loopback port, with a token of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import aiohttp

from bench.logs import TENANT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`python -m logriver.cli serve` with its own index prefix and auth file; stopped by its pid."""

    def __init__(self, es_url: str, prefix: str, workers: int = 1, settings: dict[str, str] | None = None):
        self.prefix = prefix
        self.workers = workers
        self.token = "bench-" + secrets.token_urlsafe(24)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="logriver-bench-")
        self._env = {**self._environment(es_url), **(settings or {})}  # settings: extra LOGRIVER_* variables
        self._process: subprocess.Popen[bytes] | None = None

    def _environment(self, es_url: str) -> dict[str, str]:
        auth = Path(self._dir.name) / "auth.json"
        entry = {"token": self.token, "tenant": TENANT, "roles": ["read", "write", "admin"]}
        auth.write_text(json.dumps({"tokens": [entry]}))
        env = dict(os.environ)
        env.update(
            LOGRIVER_ES_URL=es_url,
            LOGRIVER_AUTH_FILE=str(auth),
            LOGRIVER_INDEX_PREFIX=self.prefix,
            LOGRIVER_HOST="127.0.0.1",
            LOGRIVER_PORT=str(self.port),
            LOGRIVER_TOKEN_SECRET=secrets.token_hex(32),
        )
        return env

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def __aenter__(self) -> ServerProcess:
        log = open(Path(self._dir.name) / "server.log", "wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "logriver.cli", "serve", "--workers", str(self.workers)],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            await self._wait_ready(time.monotonic() + 60)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _wait_ready(self, deadline: float) -> None:
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    break
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"logriver serve did not become ready; its log ends with:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        path = Path(self._dir.name) / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def processes(self) -> list[int]:
        """The server's pid and its workers' (children), from Linux /proc."""
        found = [self.pid]
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            found += [int(pid) for pid in (task / "children").read_text().split()]
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU the server and its workers have used so far (Linux /proc)."""
        total = 0
        for pid in self.processes():
            with contextlib.suppress(FileNotFoundError):
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        """The high-water resident memory of the server's largest process."""
        peak = 0.0
        for pid in self.processes():
            with contextlib.suppress(FileNotFoundError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        return peak

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._dir.cleanup()
