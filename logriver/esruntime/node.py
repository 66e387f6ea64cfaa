"""One local node: start, stop and status, and building it from the local Elasticsearch settings."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logriver.core.settings import MAVEN_CENTRAL, Settings
from logriver.esruntime.common import CLUSTER_NAME, ElasticsearchRuntimeError, locked
from logriver.esruntime.distribution import ensure_distribution
from logriver.esruntime.java import find_java_home
from logriver.esruntime.process import (
    alive,
    ensure_port_free,
    get_json,
    is_our_child,
    is_our_process,
    node_version,
    read_pid,
    signal_all,
    spawn_detached,
    wait_gone,
)
from logriver.esruntime.rundir import (
    User,
    check_traversable,
    child_env,
    loopback_settings,
    prepare_run_dir,
    privilege_drop,
    reachable_java_home,
    run_user,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalElasticsearch:
    """One local node: ``home`` is the cache root, ``name`` selects ``home/run/<name>``."""

    home: Path
    port: int = Settings.es_port
    heap_mb: int = Settings.es_heap_mb
    name: str = "default"
    maven_repo: str = MAVEN_CENTRAL
    java: str = Settings.es_java

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def run_dir(self) -> Path:
        return self.home / "run" / self.name

    @property
    def _pidfile(self) -> Path:
        return self.run_dir / "es.pid"

    @property
    def _server_pidfile(self) -> Path:
        return self.run_dir / "server.pid"

    def start(self, timeout: float = 180.0) -> str:
        """Start the node unless ours already runs; return its URL once it is yellow."""
        _check_name(self.name)
        with locked(self.home / "run" / f".{self.name}.lock"):
            pid = self._our_pid()
            if pid is not None:
                self._check_running_port()
                self._wait_healthy(pid, time.monotonic() + timeout)
                return self.url
            self._remove_pidfiles()
            ensure_port_free(self.port)
            # Java and user checks first: fail fast, before a 100 MB download.
            java_home = find_java_home(self.java)
            user = run_user()
            if user is not None:
                check_traversable(self.home, user)
                java_home = reachable_java_home(java_home, self.home, user)
            dist = ensure_distribution(self.home, self.maven_repo)
            pid = self._spawn(dist, java_home, user)
            try:
                self._wait_healthy(pid, time.monotonic() + timeout)
            except BaseException:
                self._terminate(pid, grace=30.0)
                raise
            return self.url

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the node recorded in our pidfile; False when none was running."""
        with locked(self.home / "run" / f".{self.name}.lock"):
            pid = self._our_pid()
            if pid is None:
                self._remove_pidfiles()
                return False
            self._terminate(pid, grace=timeout)
            return True

    def status(self) -> dict[str, Any] | None:
        """``{"pid", "url", "healthy", "version"}`` of our node, or None when it is not running."""
        pid = self._our_pid()
        if pid is None:
            return None
        health = get_json(f"{self.url}/_cluster/health", timeout=2.0)
        ours = health is not None and health.get("cluster_name") == CLUSTER_NAME
        return {
            "pid": pid,
            "url": self.url,
            "healthy": ours and health is not None and health.get("status") in ("green", "yellow"),
            "version": node_version(self.url) if ours else None,
        }

    # -- process bookkeeping ------------------------------------------------

    def _our_pid(self) -> int | None:
        pid = read_pid(self._pidfile)
        if pid is not None and is_our_process(pid, self.run_dir):
            return pid
        return None

    def _server_pid(self) -> int | None:
        pid = read_pid(self._server_pidfile)
        if pid is not None and is_our_process(pid, self.run_dir):
            return pid
        return None

    def _remove_pidfiles(self) -> None:
        for path in (self._pidfile, self._server_pidfile):
            path.unlink(missing_ok=True)

    def _check_running_port(self) -> None:
        # Same run dir but another port would otherwise look like a start-up timeout.
        try:
            text = (self.run_dir / "config" / "elasticsearch.yml").read_text()
        except OSError:
            return
        match = re.search(r'^http\.port: "?(\d+)"?$', text, re.MULTILINE)
        if match and int(match.group(1)) != self.port:
            raise ElasticsearchRuntimeError(
                f"run dir {self.run_dir} already serves port {match.group(1)}, not {self.port}; stop it first"
            )

    def node_settings(self) -> dict[str, Any]:
        """The node's elasticsearch.yml, as settings: a single unsecured node on loopback."""
        return {
            "cluster.name": CLUSTER_NAME,
            "node.name": "local",
            "discovery.type": "single-node",
            "transport.port": "0",
            "xpack.security.enabled": "false",
            **loopback_settings(self),
        }

    def _spawn(self, dist: Path, java_home: Path, user: User | None) -> int:
        prepare_run_dir(self, dist, java_home, user)
        env = child_env(self, java_home, user)
        self._before_launch(dist, env, user)
        argv = [*privilege_drop(user), str(dist / "bin" / "elasticsearch"), "-p", str(self._server_pidfile)]
        pid = spawn_detached(argv, env, self.run_dir, self.run_dir / "stdout.log")
        self._pidfile.write_text(f"{pid}\n")
        log.info("started elasticsearch pid %d on %s (log %s)", pid, self.url, self.run_dir / "logs")
        return pid

    def _before_launch(self, dist: Path, env: dict[str, str], user: User | None) -> None:
        """Files a node needs beyond its config (certificates, users); none for a plain node."""

    def _wait_healthy(self, pid: int, deadline: float) -> None:
        health_url = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        while True:
            if not alive(pid):
                raise ElasticsearchRuntimeError(f"elasticsearch exited during start-up\n{self._log_tail()}")
            health = get_json(health_url, timeout=5.0)
            if health is not None and health.get("cluster_name") == CLUSTER_NAME and not health.get("timed_out"):
                return
            if time.monotonic() > deadline:
                raise ElasticsearchRuntimeError(f"elasticsearch not healthy on {self.url} in time\n{self._log_tail()}")
            time.sleep(1.0)

    def _terminate(self, pid: int, grace: float) -> None:
        # The launcher (our pid) forwards SIGTERM to the server it forked; the
        # server pid is signalled too so an orphaned server cannot linger.
        candidates = (pid, self._server_pid())
        # Re-verify right before signalling: a pid that died may already belong to someone else.
        pids = [p for p in candidates if p is not None and (is_our_process(p, self.run_dir) or is_our_child(p))]
        signal_all(pids, signal.SIGTERM)
        if not wait_gone(pids, time.monotonic() + grace):
            log.warning("elasticsearch %s ignored SIGTERM for %.0fs; killing", pids, grace)
            signal_all([p for p in pids if is_our_process(p, self.run_dir) or is_our_child(p)], signal.SIGKILL)
            wait_gone(pids, time.monotonic() + 10.0)
        self._remove_pidfiles()

    def _log_tail(self, lines: int = 40) -> str:
        parts = []
        # Logs untouched since this start (pidfile time) are from an earlier run: misleading.
        since = self._pidfile.stat().st_mtime - 1.0 if self._pidfile.exists() else 0.0
        for path in (self.run_dir / "stdout.log", self.run_dir / "logs" / f"{CLUSTER_NAME}.log"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < since:
                    continue
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} ---\n" + "\n".join(tail))
        return "\n".join(parts) or "(no elasticsearch log found)"


# -- configuration ------------------------------------------------------------


def default_home() -> Path:
    """Cache root when LOGRIVER_ES_HOME is empty; root gets /var/cache: the ES user cannot traverse /root."""
    if os.geteuid() == 0:
        return Path("/var/cache/logriver/elasticsearch")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "logriver" / "elasticsearch"


def from_settings(settings: Settings, name: str = "default") -> LocalElasticsearch:
    """The node that ``settings.es_home``, ``es_port``, ``es_heap_mb``, ``maven_repo`` and ``es_java`` describe."""
    return LocalElasticsearch(
        home=Path(settings.es_home) if settings.es_home else default_home(),
        port=settings.es_port,
        heap_mb=settings.es_heap_mb,
        name=name,
        maven_repo=settings.maven_repo,
        java=settings.es_java,
    )


def _check_name(name: str) -> None:
    # The name becomes a directory; keep it one plain path component.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ElasticsearchRuntimeError(f"invalid run name {name!r}")
