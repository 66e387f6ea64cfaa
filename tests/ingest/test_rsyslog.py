"""An unmodified rsyslog (imfile → omelasticsearch) ships a file's lines into logriver, end to end."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from logriver.app import create_app
from logriver.core.timeutil import parse_rfc3339_ns
from tests.adapters.es_helpers import PREFIX, read_back
from tests.helpers import ApiClient
from tests.sse import open_tail

PACKAGES = ("rsyslog", "rsyslog-elasticsearch")
INSTALL = "apt-get install -y rsyslog rsyslog-elasticsearch"
INDEX = "rsyslog-test"

CONFIG = """
global(workDirectory="{work}")
module(load="imfile")
module(load="omelasticsearch")
template(name="logriver" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}}
ruleset(name="ship") {{
  action(type="omelasticsearch" server="{url}" serverport="{port}" searchIndex="{index}"
         bulkmode="on" template="logriver" uid="logriver" pwd="rw-acme"
         errorfile="{work}/omelasticsearch-errors.json"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
input(type="imfile" File="{source}" Tag="app" ruleset="ship" freshStartTail="off")
"""


def _installed() -> bool:
    query = ["dpkg-query", "-W", "-f=${Status}\n", *PACKAGES]
    result = subprocess.run(query, check=False, capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.count("install ok installed") == len(PACKAGES)


@pytest.fixture(scope="session")
def rsyslogd() -> str:
    """The rsyslogd binary; the project's set-up (`.ci/run`) installs it, the tests never do."""
    if not _installed():
        pytest.fail(f"{' and '.join(PACKAGES)} are not installed: run `{INSTALL}` (as root)")
    binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    assert Path(binary).exists(), "rsyslogd is missing although the rsyslog package is installed"
    return binary


@pytest.fixture
def start_rsyslog(rsyslogd, tmp_path) -> Iterator:
    """Starts our own rsyslogd (own config, work directory and pid file); ends it by its pid."""
    started: list[subprocess.Popen] = []

    def start(port: int, source: Path) -> subprocess.Popen:
        work = tmp_path / "rsyslog"
        work.mkdir()
        url = f"http://127.0.0.1:{port}{PREFIX}"  # a path in `server` needs the port inside the URL
        config = tmp_path / "rsyslog.conf"
        config.write_text(CONFIG.format(work=work, url=url, port=port, index=INDEX, source=source))
        check = subprocess.run([rsyslogd, "-N1", "-f", str(config)], check=False, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        with open(tmp_path / "rsyslogd.out", "wb") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [rsyslogd, "-n", "-f", str(config), "-i", str(tmp_path / "rsyslogd.pid")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_for_lines(api, count: int, process: subprocess.Popen, tmp_path: Path) -> list[dict]:
    """Poll the native API until `count` lines arrived; rsyslog's own output explains a failure."""
    deadline = asyncio.get_running_loop().time() + 120
    lines: list[dict] = []
    while asyncio.get_running_loop().time() < deadline and process.poll() is None:
        lines = await read_back(api, index=INDEX)
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.25)
    output = (tmp_path / "rsyslogd.out").read_text(errors="replace")
    errors = tmp_path / "rsyslog" / "omelasticsearch-errors.json"
    detail = errors.read_text(errors="replace") if errors.exists() else ""
    pytest.fail(f"{len(lines)} of {count} lines arrived; rsyslogd said: {output}\n{detail}")


async def test_rsyslog_ships_a_file_in_order(make_api, settings, start_rsyslog, tmp_path):
    api = await make_api(dataclasses.replace(settings, tail_poll_seconds=0.2))
    source = tmp_path / "app.log"
    early = [f"early line {i}" for i in range(20)]
    source.write_text("".join(f"{line}\n" for line in early))
    process = start_rsyslog(api.http.port, source)

    lines = await wait_for_lines(api, len(early), process, tmp_path)
    tail = await open_tail(api, labels__index=INDEX)
    late = [f'late line {i} "quoted" \\ ünïcode' for i in range(30)]
    with source.open("a") as handle:
        for line in late:
            handle.write(line + "\n")
            handle.flush()
    lines = await wait_for_lines(api, len(early) + len(late), process, tmp_path)

    assert [line["message"] for line in lines] == early + late
    assert await tail.messages(len(late)) == late, "the live tail shows rsyslog's lines as they arrive"
    tail.close()
    assert all(line["labels"] == {"index": INDEX} for line in lines)
    times = [parse_rfc3339_ns(line["@timestamp"]) for line in lines]
    assert times == sorted(times)


async def test_rsyslog_holds_lines_until_logriver_is_up(
    aiohttp_client, es, settings, token_store, es_url, start_rsyslog, tmp_path, app_port
):
    """rsyslog suspends the action while nothing answers, probes health, then delivers everything."""
    port = app_port
    source = tmp_path / "app.log"
    source.write_text("".join(f"queued {i}\n" for i in range(10)))
    process = start_rsyslog(port, source)
    await wait_for_output(tmp_path, "suspend", process)  # rsyslog found nothing listening
    app = create_app(settings, token_store, es_url)
    requests: list[str] = []

    async def record(request, response) -> None:
        if request.path.startswith(PREFIX):
            requests.append(f"{request.method} {request.path} {response.status}")

    app.on_response_prepare.append(record)
    api = ApiClient(await aiohttp_client(app, server_kwargs={"port": port}))
    lines = await wait_for_lines(api, 10, process, tmp_path)
    assert [line["message"] for line in lines] == [f"queued {i}" for i in range(10)]
    assert requests[0] == f"GET {PREFIX}/_cat/health 200"  # its probe before resuming
    assert set(requests[1:]) == {f"POST {PREFIX}/_bulk 200"}


async def wait_for_output(tmp_path: Path, text: str, process: subprocess.Popen) -> None:
    output = tmp_path / "rsyslogd.out"
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline and process.poll() is None:
        if output.exists() and text in output.read_text(errors="replace"):
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"rsyslogd never said {text!r}: {output.read_text(errors='replace') if output.exists() else ''}")
