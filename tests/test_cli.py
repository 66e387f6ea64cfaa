"""`logriver serve` as a user runs it: a real process, a real port, the printed dev token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from logriver.cli import main


def test_serve_refuses_to_start_without_auth(monkeypatch, capsys):
    monkeypatch.delenv("LOGRIVER_AUTH_FILE", raising=False)
    assert main(["serve"]) == 1
    assert "LOGRIVER_AUTH_FILE" in capsys.readouterr().err


def test_bad_setting_is_reported(monkeypatch, capsys):
    monkeypatch.setenv("LOGRIVER_PORT", "eighty")
    assert main(["serve", "--dev"]) == 1
    assert "LOGRIVER_PORT" in capsys.readouterr().err


def _request(url: str, token: str, data: bytes | None = None) -> dict:
    request = urllib.request.Request(
        url, data=data, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _read_token(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if match := re.match(r"^(dev-\S+)$", line.strip()):
            return match.group(1)
    raise AssertionError("no dev token printed")


@pytest.mark.es
def test_dev_serve_prints_a_working_admin_token(es_url, tmp_path, app_port):
    port = app_port
    env = {
        **os.environ,
        "LOGRIVER_ES_URL": es_url,
        "LOGRIVER_PORT": str(port),
        "LOGRIVER_INDEX_PREFIX": f"lrt-cli-{port}",
        "LOGRIVER_INDEX_REFRESH_INTERVAL": "100ms",
    }
    env.pop("LOGRIVER_AUTH_FILE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "logriver.cli", "serve", "--dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        token = _read_token(process)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if _request(f"{base}/readyz", token)["status"] == "ready":
                    break
            except OSError:
                time.sleep(0.2)
        line = {"@timestamp": int(time.time() * 1000), "message": "from the cli test", "labels": {"cli": "1"}}
        assert _request(f"{base}/api/v1/lines?refresh=wait_for", token, json.dumps([line]).encode())["accepted"] == 1
        page = _request(f"{base}/api/v1/lines?labels.cli=1", token)
        assert [line["message"] for line in page["lines"]] == ["from the cli test"]
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
        cleanup = urllib.request.Request(f"{es_url}/lrt-cli-{port}-*", method="DELETE")
        urllib.request.urlopen(cleanup, timeout=30).close()
        for name in ("lines", "streams"):
            template = urllib.request.Request(f"{es_url}/_index_template/lrt-cli-{port}-{name}", method="DELETE")
            urllib.request.urlopen(template, timeout=30).close()


def test_es_status_reads_the_local_elasticsearch_settings(monkeypatch, capsys, tmp_path, app_port):
    monkeypatch.setenv("LOGRIVER_ES_HOME", str(tmp_path))
    monkeypatch.setenv("LOGRIVER_ES_PORT", str(app_port))
    assert main(["es", "status"]) == 3
    assert capsys.readouterr().out.strip() == "not running"
    monkeypatch.setenv("LOGRIVER_ES_PORT", "nine")
    assert main(["es", "status"]) == 1
    assert "LOGRIVER_ES_PORT must be a int" in capsys.readouterr().err
