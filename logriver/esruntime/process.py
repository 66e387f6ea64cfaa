"""ES processes: detached spawn, pid files, liveness, signals, and HTTP health/version probes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from logriver.esruntime.common import ElasticsearchRuntimeError

_LAUNCHER_CLASS = "org.elasticsearch.launcher.CliToolLauncher"
_SERVER_CLASS = "org.elasticsearch.bootstrap.Elasticsearch"


def spawn_detached(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> int:
    """posix_spawn in a new session: no Popen object whose finaliser would warn about a live child."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    # posix_spawn has no cwd and chdir() would race other threads; `env -C` execs in place.
    env_bin = shutil.which("env") or "/usr/bin/env"
    full = [env_bin, "-C", str(cwd), *argv]
    return os.posix_spawn(env_bin, full, env, file_actions=actions, setsid=True)


def read_pid(path: Path) -> int | None:
    """The pid in ``path``, or None when it is missing or garbled."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_our_process(pid: int, run_dir: Path) -> bool:
    """A live ES java process started for this run dir (pids get reused)."""
    if not alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    text = [a.decode(errors="replace") for a in args]
    is_es = any(a in (_LAUNCHER_CLASS, _SERVER_CLASS) for a in text)
    # The launcher carries our config dir, the server our tmp dir: both tie it to this run dir.
    markers = {f"-Des.path.conf={run_dir / 'config'}", f"-Djava.io.tmpdir={run_dir / 'tmp'}"}
    return is_es and not markers.isdisjoint(text)


def _proc_stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    _reap(pid)
    fields = _proc_stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def is_our_child(pid: int) -> bool:
    """True when ``pid`` is a live direct child of this process."""
    # Covers the instant before the spawned wrapper has exec'd into the ES launcher.
    fields = _proc_stat(pid)
    return len(fields) > 1 and fields[0] not in ("Z", "X") and fields[1] == str(os.getpid())


def _reap(pid: int) -> None:
    # Only when we spawned it: collect the exit status so it does not stay a zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    """Send ``sig`` to each pid, ignoring those already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: list[int], deadline: float) -> bool:
    """Wait until none of ``pids`` is alive; False when the monotonic deadline passes first."""
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def ensure_port_free(port: int) -> None:
    """Refuse to start when something already listens on the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise ElasticsearchRuntimeError(f"port {port} on 127.0.0.1 is already in use by another process")


def node_version(url: str) -> str | None:
    """The version the node at ``url`` reports, or None when it does not answer."""
    # Not GET /: its handler lives in the rest-root module, which the integ-test-zip lacks.
    nodes = get_json(f"{url}/_nodes/_local?filter_path=nodes.*.version", timeout=2.0)
    versions = [n.get("version") for n in (nodes or {}).get("nodes", {}).values()]
    return versions[0] if versions and isinstance(versions[0], str) else None


def get_json(url: str, timeout: float) -> dict[str, Any] | None:
    """GET ``url`` as a JSON object; None on any connection, HTTP or decoding failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
