"""The installed package: one `logriver` namespace, templates inside it, and a service that runs from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the checkout the way `pip install .` builds one."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("logriver-*.whl")
    return built


def test_wheel_holds_only_the_logriver_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"logriver"}
    for package in ("core", "ingest", "query", "adapters", "mappings", "esruntime"):
        assert f"logriver/{package}/__init__.py" in names, package
    assert {"logriver/mappings/lines.json", "logriver/mappings/streams.json"} <= set(names)


@pytest.fixture
def installed(wheel: Path, tmp_path: Path) -> Path:
    """The wheel unpacked into a folder of its own, as pip installs it, away from the checkout."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def _env(installed: Path, **extra: str) -> dict[str, str]:
    # The dependencies come from this interpreter's site-packages; logriver itself only from `installed`.
    return {**os.environ, "PYTHONPATH": str(installed), "PYTHONSAFEPATH": "1", **extra}


def test_installed_copy_imports_from_itself(installed: Path, tmp_path: Path) -> None:
    probe = "import logriver.core.indices as m, logriver.mappings as t; print(m.__file__); print(t.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", probe], env=_env(installed), cwd=tmp_path, capture_output=True, text=True, check=True
    )
    for path in found.stdout.split():
        assert Path(path).is_relative_to(installed), path


@pytest.fixture
def served(installed: Path, tmp_path: Path, es_url: str, app_port: int, index_prefix: str) -> Iterator[tuple[str, str]]:
    port = app_port
    env = _env(installed, LOGRIVER_ES_URL=es_url, LOGRIVER_PORT=str(port), LOGRIVER_INDEX_PREFIX=index_prefix)
    process = subprocess.Popen(
        [sys.executable, "-m", "logriver.cli", "serve", "--dev"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", _dev_token(process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()
        _delete_indices(es_url, index_prefix)


def _dev_token(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline().strip()
        if line.startswith("dev-"):
            return line
    raise AssertionError("the installed service printed no dev token")


def _delete_indices(es_url: str, prefix: str) -> None:
    for path in (f"/{prefix}-*?expand_wildcards=all", f"/_index_template/{prefix}-*"):
        request = urllib.request.Request(es_url + path, method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except urllib.error.HTTPError as exc:
            assert exc.code == 404, exc


def test_installed_service_serves(served: tuple[str, str]) -> None:
    url, token = served
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
                assert json.loads(response.read()) == {"status": "ready"}
                break
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, "the installed service never became ready"
            time.sleep(0.2)
    request = urllib.request.Request(url + "/api/v1/streams", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["streams"] == []
