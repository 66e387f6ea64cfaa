"""The user ES runs as and its run directory: config, environment, privilege drop."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logriver.esruntime.common import ElasticsearchRuntimeError, make_dirs
from logriver.esruntime.java import VECTOR_OPTION, lacks_vector_module

if TYPE_CHECKING:
    from logriver.esruntime.node import LocalElasticsearch

RUN_USER = "logriver-es"


@dataclass(frozen=True)
class User:
    """The unprivileged account ES runs as when we are root."""

    name: str
    uid: int
    gid: int


def run_user() -> User | None:
    """None means "run as ourselves"; as root, ES needs an unprivileged user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(RUN_USER)
    except KeyError:
        _create_system_user()
        entry = pwd.getpwnam(RUN_USER)
    return User(RUN_USER, entry.pw_uid, entry.pw_gid)


def _create_system_user() -> None:
    cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_USER]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    # Exit code 9: a concurrent start created it first.
    if result.returncode not in (0, 9):
        raise ElasticsearchRuntimeError(f"cannot create user {RUN_USER}: {result.stderr.strip()}")


def prepare_run_dir(es: LocalElasticsearch, dist: Path, java_home: Path, user: User | None) -> None:
    """Create the node's data/logs/tmp dirs and write a fresh config/ for this start."""
    run = es.run_dir
    make_dirs(run)
    for sub in ("data", "logs", "tmp"):
        (run / sub).mkdir(exist_ok=True)
    config = run / "config"
    # Fresh copy each start: dist config is 0750/0660 and owned by whoever unpacked it.
    shutil.rmtree(config, ignore_errors=True)
    keystore = dist / "config" / "elasticsearch.keystore"
    shutil.copytree(dist / "config", config, ignore=lambda *_: [keystore.name] if keystore.exists() else [])
    (config / "elasticsearch.yml").write_text(_elasticsearch_yml(es))
    if lacks_vector_module(java_home):
        _strip_jvm_option(config / "jvm.options", VECTOR_OPTION)
    if user is not None:
        _chown_tree(run, user)


def loopback_settings(es: LocalElasticsearch) -> dict[str, Any]:
    """What every local node shares: loopback, its port and run dir, no disk watermarks."""
    # Only core settings: a setting of a module absent from the zip aborts start-up.
    return {
        "network.host": "127.0.0.1",
        "http.port": str(es.port),
        "path.data": str(es.run_dir / "data"),
        "path.logs": str(es.run_dir / "logs"),
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        "action.destructive_requires_name": "false",
    }


def _elasticsearch_yml(es: LocalElasticsearch) -> str:
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in es.node_settings().items())


def _strip_jvm_option(path: Path, option: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if option not in line))


def _chown_tree(root: Path, user: User) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def check_traversable(path: Path, user: User) -> None:
    """Fail early with a useful message instead of an opaque ES AccessDeniedException."""
    blocked = _blocked_directory(path, user)
    if blocked is not None:
        raise ElasticsearchRuntimeError(
            f"user {user.name} cannot traverse {blocked} (mode {stat.filemode(blocked.stat().st_mode)}); "
            f"put the cache elsewhere via LOGRIVER_ES_HOME (default for root: /var/cache/logriver/elasticsearch)"
        )


def reachable_java_home(java_home: Path, home: Path, user: User | None) -> Path:
    """``java_home``, or a copy of it under ``home`` when ``user`` cannot reach the original.

    A root checkout in a private directory (``mktemp -d`` makes 0700 ones) holds its venv's
    JDK where the unprivileged ES user cannot go; ``home`` was already checked traversable.
    """
    if user is None or _blocked_directory(java_home, user) is None:
        return java_home
    java = java_home / "bin" / "java"
    identity = f"{java_home.resolve()}:{java.stat().st_mtime_ns}:{java.stat().st_size}"
    mirror = home / "java" / hashlib.sha256(identity.encode()).hexdigest()[:16]
    if not (mirror / "bin" / "java").is_file():
        _copy_readable(java_home, mirror)
    return mirror


def _copy_readable(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    make_dirs(partial.parent)
    shutil.copytree(source, partial, symlinks=True)
    for path in [partial, *partial.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            # Read for everyone; execute for everyone wherever the owner had it.
            path.chmod(mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))
    partial.rename(target)


def _blocked_directory(path: Path, user: User) -> Path | None:
    """The first directory on the way to ``path`` (as written or resolved) that ``user`` cannot traverse."""
    written, resolved = path.absolute(), path.resolve()
    for directory in dict.fromkeys((written, *written.parents, resolved, *resolved.parents)):
        if directory.is_dir() and not _traversable_by(directory.stat(), user):
            return directory
    return None


def _traversable_by(st: os.stat_result, user: User) -> bool:
    if st.st_uid == user.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == user.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def child_env(es: LocalElasticsearch, java_home: Path, user: User | None) -> dict[str, str]:
    """Our environment minus ES_*/JAVA_*, plus what the ES scripts read for this node."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_", "JAVA_"))}
    env.update(
        ES_JAVA_HOME=str(java_home),  # the ES scripts ignore JAVA_HOME
        ES_PATH_CONF=str(es.run_dir / "config"),
        ES_JAVA_OPTS=f"-Xms{es.heap_mb}m -Xmx{es.heap_mb}m",
        ES_TMPDIR=str(es.run_dir / "tmp"),
    )
    if user is not None:
        # The system user has no home; keep Java's user.home inside the run dir.
        env.update(HOME=str(es.run_dir), USER=user.name, LOGNAME=user.name)
    return env


def privilege_drop(user: User | None) -> list[str]:
    """Command prefix that runs the rest as ``user`` (empty when we are not root)."""
    if user is None:
        return []
    # setpriv execs in place, so the pid we record is the ES launcher itself.
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", user.name, "--"]
    raise ElasticsearchRuntimeError("running as root needs setpriv or runuser to drop privileges for Elasticsearch")
