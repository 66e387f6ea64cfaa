"""Tests for logriver.esruntime: pure helpers always, a real node under the ``es`` marker."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from logriver.core.settings import Settings, SettingsError
from logriver.esruntime import (
    ES_VERSION,
    ElasticsearchRuntimeError,
    LocalElasticsearch,
    default_home,
    distribution,
    from_settings,
    java,
    rundir,
)
from tests.esnodes import SessionNodes


def test_from_settings_reads_the_local_elasticsearch_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "LOGRIVER_ES_HOME": str(tmp_path),
            "LOGRIVER_ES_PORT": "9333",
            "LOGRIVER_ES_HEAP_MB": "512",
            "LOGRIVER_MAVEN_REPO": "https://maven.example.org/repo",
        }
    )
    es = from_settings(settings)
    assert es == LocalElasticsearch(home=tmp_path, port=9333, heap_mb=512, maven_repo="https://maven.example.org/repo")
    assert es.url == "http://127.0.0.1:9333"


def test_from_settings_defaults() -> None:
    es = from_settings(Settings())
    assert (es.home, es.port, es.heap_mb, es.name) == (default_home(), 9250, 1024, "default")
    assert es.maven_repo == "https://repo.maven.apache.org/maven2"


@pytest.mark.parametrize(
    ("variable", "value"), [("LOGRIVER_ES_PORT", "nine"), ("LOGRIVER_ES_PORT", "0"), ("LOGRIVER_ES_HEAP_MB", "-1")]
)
def test_bad_local_elasticsearch_settings_are_rejected(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_default_home_is_reachable_by_the_es_user() -> None:
    home = default_home()
    if os.geteuid() == 0:
        assert home == Path("/var/cache/logriver/elasticsearch")
    else:
        assert home.parts[-2:] == ("logriver", "elasticsearch")


def test_config_has_only_core_settings(tmp_path: Path) -> None:
    yml = rundir._elasticsearch_yml(LocalElasticsearch(home=tmp_path, port=9999, name="x"))
    assert 'http.port: "9999"' in yml
    assert 'discovery.type: "single-node"' in yml
    # Settings of modules absent from the integ-test-zip abort start-up.
    assert "geoip" not in yml


def test_foreign_pid_in_pidfile_is_never_signalled(tmp_path: Path) -> None:
    es = LocalElasticsearch(home=tmp_path, port=9999, name="foreign")  # never started: the port is not used
    es.run_dir.mkdir(parents=True)
    (es.run_dir / "es.pid").write_text(f"{os.getpid()}\n")  # alive, but not an ES of ours
    assert es.status() is None
    assert es.stop() is False
    assert not (es.run_dir / "es.pid").exists()


def test_invalid_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ElasticsearchRuntimeError, match="invalid run name"):
        LocalElasticsearch(home=tmp_path, name="../escape").start()


@pytest.fixture
def node(es_nodes: SessionNodes) -> Iterator[LocalElasticsearch]:
    es = es_nodes.spare("test-runtime")
    try:
        yield es
    finally:
        es.stop()


@pytest.mark.es
@pytest.mark.timeout(900)  # a cold cache downloads ~100 MB before the 180 s start-up budget
def test_start_status_stop(node: LocalElasticsearch) -> None:
    assert node.start() == node.url
    status = node.status()
    assert status is not None
    assert status["healthy"] is True
    assert status["version"] == ES_VERSION
    assert status["url"] == node.url

    with urllib.request.urlopen(f"{node.url}/_nodes/_local?filter_path=nodes.*.version", timeout=10) as resp:
        nodes = json.loads(resp.read())["nodes"]
    assert [n["version"] for n in nodes.values()] == [ES_VERSION]

    assert node.start() == node.url  # idempotent: no second node
    again = node.status()
    assert again is not None and again["pid"] == status["pid"]

    assert node.stop() is True
    assert node.status() is None
    assert node.stop() is False


def _fake_repo(tmp_path: Path, payload: bytes) -> tuple[str, Path]:
    """A file:// Maven repo holding the ES artifact; urllib reads it like Maven Central."""
    repo = tmp_path / "repo"
    artifact = repo / distribution._artifact_path()
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(payload)
    return repo.as_uri(), artifact


def _zip_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "made.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"elasticsearch-{ES_VERSION}/bin/elasticsearch", "#!/bin/sh\n")
    return path.read_bytes()


def test_download_fallback_without_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = _zip_bytes(tmp_path)
    repo_url, artifact = _fake_repo(tmp_path, payload)
    artifact.with_name(artifact.name + ".sha1").write_text(hashlib.sha1(payload).hexdigest())
    monkeypatch.setattr(distribution.shutil, "which", lambda name: None)
    zip_path = distribution._ensure_zip(tmp_path / "home", repo_url)
    assert zip_path.read_bytes() == payload


def test_download_rejects_checksum_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo_url, artifact = _fake_repo(tmp_path, _zip_bytes(tmp_path))
    artifact.with_name(artifact.name + ".sha1").write_text("0" * 40)
    monkeypatch.setattr(distribution.shutil, "which", lambda name: None)
    with pytest.raises(ElasticsearchRuntimeError, match="sha1 mismatch"):
        distribution._ensure_zip(tmp_path / "home", repo_url)
    assert list((tmp_path / "home").iterdir()) == []


def test_download_rejects_non_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo_url, _ = _fake_repo(tmp_path, b"<html>not a zip</html>")
    monkeypatch.setattr(distribution.shutil, "which", lambda name: None)
    with pytest.raises(ElasticsearchRuntimeError, match="not a valid zip"):
        distribution._ensure_zip(tmp_path / "home", repo_url)


def _fake_jdk(root: Path, version: str, modules: str | None = None) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "java").write_text("")
    release = f'JAVA_VERSION="{version}"\n' + (f'MODULES="{modules}"\n' if modules is not None else "")
    (root / "release").write_text(release)
    return root


def test_java_version_parsing(tmp_path: Path) -> None:
    assert java._java_major(_fake_jdk(tmp_path / "a", "25.0.3")) == 25
    assert java._java_major(_fake_jdk(tmp_path / "b", "1.8.0_412")) == 8
    assert java._java_major(_fake_jdk(tmp_path / "c", "21-ea")) == 21


def test_old_es_java_home_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ES_JAVA_HOME", str(_fake_jdk(tmp_path / "jdk17", "17.0.15")))
    with pytest.raises(ElasticsearchRuntimeError, match="needs >= 21"):
        java.find_java_home()


def test_vector_option_stripped_only_when_module_missing(tmp_path: Path) -> None:
    jlinked = _fake_jdk(tmp_path / "jre", "21.0.2", modules="java.base java.logging")
    full = _fake_jdk(tmp_path / "jdk", "21.0.2")
    assert java.lacks_vector_module(jlinked)
    assert not java.lacks_vector_module(full)
    options = tmp_path / "jvm.options"
    options.write_text("-XX:+UseG1GC\n20-:--add-modules=jdk.incubator.vector\n")
    rundir._strip_jvm_option(options, "--add-modules=jdk.incubator.vector")
    assert options.read_text() == "-XX:+UseG1GC\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands Elasticsearch to another user")
def test_a_java_the_es_user_cannot_reach_is_copied_where_it_can(tmp_path: Path) -> None:
    user = rundir.run_user()
    assert user is not None
    private = tmp_path / "private"  # what `mktemp -d` gives a root checkout: mode 0700
    private.mkdir(mode=0o700)
    (private / "jdk").symlink_to(java.find_java_home("auto"))
    home = default_home().parent / f"reach-{os.getpid()}-{tmp_path.name}"
    try:
        rundir.make_dirs(home)
        reachable = rundir.reachable_java_home(private / "jdk", home, user)
        assert reachable.parent == home / "java"
        assert _java_runs_as(user, private / "jdk") != 0
        assert _java_runs_as(user, reachable) == 0
        assert rundir.reachable_java_home(private / "jdk", home, user) == reachable
        assert rundir.reachable_java_home(reachable, home, user) == reachable
        assert rundir.reachable_java_home(private / "jdk", home, None) == private / "jdk"
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _java_runs_as(user: rundir.User, java_home: Path) -> int:
    """Exit code of what Elasticsearch's launcher does first: test that the java it will run is there."""
    check = 'test -x "$1/bin/java" && "$1/bin/java" -version'
    argv = [*rundir.privilege_drop(user), "/bin/sh", "-c", check, "sh", str(java_home)]
    return subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode
