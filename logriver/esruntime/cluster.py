"""A local cluster of several nodes on loopback: scale-out and node loss on one machine.

Each node is a ``LocalElasticsearch`` with its own run directory (``home/run/cluster-<n>``),
HTTP and transport port, and a bounded heap. The nodes find each other through
``discovery.seed_hosts`` and elect the first master from ``cluster.initial_master_nodes``;
that list is left out when a node starts into a cluster that is already running (a killed
node rejoining), as Elasticsearch asks.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from logriver.core.settings import Settings
from logriver.esruntime.common import ElasticsearchRuntimeError, make_dirs
from logriver.esruntime.node import LocalElasticsearch, default_home
from logriver.esruntime.process import alive, get_json, read_pid, signal_all, wait_gone
from logriver.esruntime.rundir import loopback_settings

CLUSTER_NAME = "logriver-cluster"
HTTP_BASE, TRANSPORT_BASE = 9261, 9361
TRANSPORT_OFFSET = TRANSPORT_BASE - HTTP_BASE  # a node's transport port, from its HTTP port
DEFAULT_HEAP_MB = 384  # three nodes fit in about 1.5 GB with their off-heap memory
SERVER_MAIN = "org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch"


@dataclass(frozen=True)
class ClusterNode(LocalElasticsearch):
    """One node of a local cluster; ``name`` is also its node name."""

    transport_port: int = TRANSPORT_BASE
    seed_ports: tuple[int, ...] = ()
    master_names: tuple[str, ...] = ()

    def node_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "cluster.name": CLUSTER_NAME,
            "node.name": self.name,
            "transport.port": str(self.transport_port),
            "discovery.seed_hosts": [f"127.0.0.1:{p}" for p in self.seed_ports],
            "xpack.security.enabled": "false",
            **loopback_settings(self),
        }
        if self.master_names:
            settings["cluster.initial_master_nodes"] = list(self.master_names)
        return settings

    def _wait_healthy(self, pid: int, deadline: float) -> None:
        # A lone node has no health until a majority of masters is up: wait for its HTTP port only.
        while not _listening(self.port):
            if not alive(pid):
                raise ElasticsearchRuntimeError(f"elasticsearch {self.name} exited during start-up\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise ElasticsearchRuntimeError(f"elasticsearch {self.name} did not open {self.url} in time")
            time.sleep(0.5)

    def status(self) -> dict[str, Any] | None:
        """``{"name", "pid", "url", "in_cluster", "status"}``, or None when the node is not running."""
        pid = self._our_pid()
        if pid is None:
            return None
        health = get_json(f"{self.url}/_cluster/health?timeout=1s", timeout=3.0) or {}
        joined = health.get("cluster_name") == CLUSTER_NAME and not health.get("timed_out", True)
        return {
            "name": self.name,
            "pid": pid,
            "url": self.url,
            "in_cluster": joined,
            "status": health.get("status") if joined else None,
        }

    def kill(self) -> list[int]:
        """SIGKILL the server JVM, as a crash would, then its launcher; returns the pids killed."""
        server, launcher = read_pid(self._server_pidfile), self._our_pid()
        # The server alone: killing only the launcher makes the server shut down cleanly instead.
        pids = [p for p in (server,) if p is not None and _is_server_of(p, self.run_dir)]
        if launcher is not None:
            pids.append(launcher)
        for pid in pids:
            signal_all([pid], signal.SIGKILL)
            wait_gone([pid], time.monotonic() + 30.0)
        self._remove_pidfiles()
        return pids


def _is_server_of(pid: int, run_dir: Path) -> bool:
    """The server JVM of this run dir: started as a module (`-m org.elasticsearch.server/...`)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return SERVER_MAIN in args and f"-Djava.io.tmpdir={run_dir / 'tmp'}" in args


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class LocalCluster:
    """``size`` nodes on loopback ports ``http_base + i`` and ``transport_base + i``, named ``<name>-<n>``."""

    home: Path
    size: int = 3
    heap_mb: int = DEFAULT_HEAP_MB
    http_base: int = HTTP_BASE
    transport_base: int = TRANSPORT_BASE
    name: str = "cluster"

    @property
    def nodes(self) -> list[ClusterNode]:
        names = tuple(f"{self.name}-{i + 1}" for i in range(self.size))
        seeds = tuple(self.transport_base + i for i in range(self.size))
        return [
            ClusterNode(
                home=self.home,
                port=self.http_base + i,
                heap_mb=self.heap_mb,
                name=name,
                transport_port=seeds[i],
                seed_ports=seeds,
                master_names=names,
            )
            for i, name in enumerate(names)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def _manifest(self) -> Path:
        return self.home / "run" / f"{self.name}.json"

    def start(self, timeout: float = 300.0) -> list[str]:
        """Start every node that is not running; return the URLs once all have joined."""
        if not 1 <= self.size <= 9:
            raise ElasticsearchRuntimeError(f"a local cluster has 1 to 9 nodes, not {self.size}")
        make_dirs(self._manifest.parent)
        self._manifest.write_text(json.dumps({"size": self.size, "heap_mb": self.heap_mb}))
        nodes = self.nodes
        if any(status is not None and status["in_cluster"] for status in self.status()):
            nodes = [replace(node, master_names=()) for node in nodes]
        # In parallel: the first master election waits for a majority of the nodes anyway.
        with ThreadPoolExecutor(self.size) as pool:
            list(pool.map(lambda node: node.start(timeout), nodes))
        self.wait_for(f"wait_for_nodes={self.size}&wait_for_status=yellow", timeout)
        return self.urls

    def wait_for(self, condition: str, timeout: float = 120.0) -> dict[str, Any]:
        """Block until ``_cluster/health?<condition>`` holds on some running node; its answer."""
        deadline = time.monotonic() + timeout
        while True:
            for node in self.nodes:
                health = get_json(f"{node.url}/_cluster/health?{condition}&timeout=2s", timeout=5.0)
                if health is not None and health.get("cluster_name") == CLUSTER_NAME and not health["timed_out"]:
                    return health
            if time.monotonic() > deadline:
                raise ElasticsearchRuntimeError(f"the local cluster did not reach {condition} in {timeout:.0f}s")
            time.sleep(0.5)

    def stop(self) -> int:
        """Stop every node by its recorded pid; returns how many were running."""
        with ThreadPoolExecutor(self.size) as pool:
            stopped: int = sum(pool.map(lambda node: node.stop(), self.nodes))
        self._manifest.unlink(missing_ok=True)
        return stopped

    def status(self) -> list[dict[str, Any] | None]:
        """Each node's status, None for a node that is not running."""
        return [node.status() for node in self.nodes]


def cluster_from_settings(settings: Settings, size: int | None = None, heap_mb: int | None = None) -> LocalCluster:
    """The local cluster under `settings.es_home`; size and heap default to what the last start recorded."""
    home = _home(settings)
    recorded: dict[str, Any] = {}
    manifest = home / "run" / "cluster.json"
    if manifest.is_file():
        recorded = json.loads(manifest.read_text())
    return LocalCluster(
        home,
        size=size or int(recorded.get("size", 3)),
        heap_mb=heap_mb or int(recorded.get("heap_mb", DEFAULT_HEAP_MB)),
        http_base=settings.es_cluster_port,
        transport_base=settings.es_cluster_port + TRANSPORT_OFFSET,
    )


def cluster_recorded(settings: Settings) -> bool:
    """True when `logriver es start --nodes N` (N > 1) started a cluster that was not stopped."""
    return (_home(settings) / "run" / "cluster.json").is_file()


def _home(settings: Settings) -> Path:
    return Path(settings.es_home) if settings.es_home else default_home()
