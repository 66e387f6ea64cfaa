"""`logriver push` as a real process against the real service: order, exactly once, retries, refusals."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from logriver.client_push import Stamper, TimestampRule, retry_after_seconds
from logriver.core.timeutil import format_rfc3339_ns, now_ns, parse_rfc3339_ns
from tests.clientproc import client_env, logriver_command, run_logriver
from tests.helpers import ApiClient, auth

pytestmark = pytest.mark.es


async def refreshed(es, settings) -> None:
    await es.indices.refresh(index=f"{settings.index_prefix}-*")


async def stored_messages(api: ApiClient, es, settings, **labels: str) -> list[str]:
    """Every line of the stream, oldest first, read back by `logriver lines` (a real process)."""
    await refreshed(es, settings)
    selection = [arg for key, value in labels.items() for arg in ("-l", f"{key}={value}")]
    done = await run_logriver(api, "lines", *selection, "--messages")
    assert done.code == 0, done.err
    return done.out.splitlines()


@pytest.mark.timeout(600)
async def test_seq_100000_piped_is_stored_once_in_order(api, es, settings):
    done = await run_logriver(api, "push", "-l", "job=seq", shell_input="seq 100000")
    assert done.code == 0, done.err
    assert done.err == ""
    assert await stored_messages(api, es, settings, job="seq") == [str(n) for n in range(1, 100001)]


async def test_lines_from_files_in_order_then_stdin(api, es, settings, tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text("a1\na2\n")
    second.write_bytes(b"b1\r\nb2")  # CRLF, and no newline at the end
    done = await run_logriver(api, "push", "-l", "job=files", str(first), "-", str(second), stdin=b"s1\n\ns2\n")
    assert done.code == 0, done.err
    assert await stored_messages(api, es, settings, job="files") == ["a1", "a2", "s1", "", "s2", "b1", "b2"]


async def test_tee_copies_the_input(api):
    done = await run_logriver(api, "push", "-l", "job=tee", "--tee", "--refresh", stdin=b"one\ntwo")
    assert done.code == 0, done.err
    assert done.out == "one\ntwo"
    assert [line["message"] for line in (await api.get_lines(labels__job="tee"))["lines"]] == ["one", "two"]


async def test_same_run_id_again_stores_nothing_twice(api, es, settings):
    lines = b"".join(b"line %d\n" % n for n in range(50))
    for _ in range(2):
        done = await run_logriver(api, "push", "-l", "job=rerun", "--run-id", "r1", "--batch-lines", "7", stdin=lines)
        assert done.code == 0, done.err
    assert await stored_messages(api, es, settings, job="rerun") == [f"line {n}" for n in range(50)]
    # Another run is another set of lines: the ids come from the run id and the input position.
    done = await run_logriver(api, "push", "-l", "job=rerun", "--run-id", "r2", stdin=b"line 0\n")
    assert done.code == 0, done.err
    assert len(await stored_messages(api, es, settings, job="rerun")) == 51


@dataclasses.dataclass
class Proxy:
    """Forwards writes to the real service, but fails the first `failures` answers as told."""

    upstream: str
    mode: str  # "lost": the batch is stored, then the answer is a 503; "pushed_back": a 429, not forwarded
    failures: int
    posts: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.posts += 1
        body = await request.read()
        failing = self.posts <= self.failures
        if not (failing and self.mode == "pushed_back"):
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with (
                aiohttp.ClientSession() as session,
                session.post(self.upstream + request.path_qs, data=body, headers=headers) as answer,
            ):
                stored = web.Response(status=answer.status, body=await answer.read(), content_type="application/json")
        if failing:
            status = 503 if self.mode == "lost" else 429
            return web.json_response(
                {"error": {"type": "test_fault", "message": f"fault {self.posts}", "details": {}}},
                status=status,
                headers={"Retry-After": "1"},
            )
        return stored


@pytest.fixture
async def proxy_factory(api) -> AsyncIterator:
    runners = []

    async def start(mode: str, failures: int) -> Proxy:
        proxy = Proxy(str(api.http.make_url("/")).rstrip("/"), mode, failures)
        app = web.Application()
        app.router.add_post("/api/v1/lines", proxy.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()  # the kernel's port, bound at once
        port = runner.addresses[0][1]
        runners.append(runner)
        proxy.url = f"http://127.0.0.1:{port}"
        return proxy

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.mark.parametrize("mode", ["lost", "pushed_back"])
async def test_a_resent_batch_is_stored_once(api, es, settings, proxy_factory, mode):
    proxy = await proxy_factory(mode, failures=2)
    lines = b"".join(b"%d\n" % n for n in range(30))
    done = await run_logriver(api, "push", "-l", f"job={mode}", "--batch-lines", "10", "--url", proxy.url, stdin=lines)
    assert done.code == 0, done.err
    assert proxy.posts == 5  # 3 batches, the first sent three times
    assert done.err.count("retrying in 1 s") == 2 and "fault 1" in done.err
    assert await stored_messages(api, es, settings, job=mode) == [str(n) for n in range(30)]


async def test_gives_up_when_retries_outlast_the_budget(api, proxy_factory):
    proxy = await proxy_factory("pushed_back", failures=100)
    done = await run_logriver(
        api, "push", "-l", "job=gaveup", "--url", proxy.url, "--retry-seconds", "2.5", stdin=b"one\ntwo\n"
    )
    assert done.code == 1
    assert "gave up after 2.5 s of retries" in done.err and "lines from input line 1 on were not sent" in done.err


async def test_refused_lines_exit_1_and_say_which(make_api, es, settings):
    api = await make_api(dataclasses.replace(settings, max_message_bytes=100))
    stdin = b"fine\n" + b"x" * 101 + b"\nalso fine\n" + b"y" * 200 + b"\n"
    done = await run_logriver(api, "push", "-l", "job=refused", stdin=stdin)
    assert done.code == 1
    assert "2 of 4 lines were refused" in done.err
    assert "input line 2: message_too_long" in done.err and "input line 4: message_too_long" in done.err
    assert await stored_messages(api, es, settings, job="refused") == ["fine", "also fine"]


async def test_a_refused_request_exits_1_with_the_servers_reason(api):
    done = await run_logriver(api, "push", "-l", "job=x", token="read-acme", stdin=b"one\n")
    assert done.code == 1
    assert "the server refused the batch: 403 forbidden" in done.err


async def test_usage_errors(api, tmp_path):
    done = await run_logriver(api, "push", stdin=b"one\n")
    assert done.code == 2 and "at least one -l KEY=VALUE" in done.err
    done = await run_logriver(api, "push", "-l", "a=b", str(tmp_path / "absent.log"))
    assert done.code == 2 and "no such file" in done.err
    done = await run_logriver(api, "push", "-l", "a=b", "--timestamp-regex", "(", stdin=b"")
    assert done.code == 2 and "is not a regular expression" in done.err


async def test_timestamps_taken_from_the_lines(api, es, settings):
    base = now_ns() - 3600 * 1_000_000_000
    first, second = format_rfc3339_ns(base), format_rfc3339_ns(base + 2_000_000_000)
    stdin = f"{first} started\n  a continuation\n{second} finished\n".encode()
    done = await run_logriver(api, "push", "-l", "job=stamped", "--timestamp-regex", r"^(\S+Z) ", stdin=stdin)
    assert done.code == 0, done.err
    await refreshed(es, settings)
    page = await api.get_lines(labels__job="stamped")
    stamps = [parse_rfc3339_ns(line["@timestamp"]) // 1000 for line in page["lines"]]
    assert [line["message"] for line in page["lines"]] == [f"{first} started", "  a continuation", f"{second} finished"]
    assert stamps == [base // 1000, base // 1000, (base + 2_000_000_000) // 1000]


async def test_lines_of_a_slow_producer_arrive_before_it_ends(api, es, settings):
    """`./train.sh | logriver push`: a line is stored about a flush interval after it is written."""
    process = await asyncio.create_subprocess_exec(
        *logriver_command(), "push", "-l", "job=slow", "--flush-seconds", "0.2",
        env=client_env(api),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write(b"epoch 1\n")
    await process.stdin.drain()
    deadline = asyncio.get_running_loop().time() + 60
    while not await _has_lines(api, "slow"):
        assert asyncio.get_running_loop().time() < deadline, "the first line never arrived"
        await asyncio.sleep(0.2)
    assert process.returncode is None  # still reading: the line went out on the flush interval
    process.stdin.close()
    assert await asyncio.wait_for(process.wait(), 60) == 0


async def _has_lines(api: ApiClient, job: str) -> bool:
    # Before the first line lands, its index may not exist yet: the read answers 503 then.
    response = await api.http.get("/api/v1/lines", params={"labels.job": job}, headers=auth())
    return response.status == 200 and bool((await response.json())["lines"])


def test_timestamp_rule_formats():
    rule = TimestampRule(re.compile(r"\[(?P<ts>[^\]]+)\]"), "%d/%b/%Y:%H:%M:%S %z")
    assert rule.find_ns('1.2.3.4 - - [10/Oct/2026:13:55:36 -0700] "GET /"') == parse_rfc3339_ns("2026-10-10T20:55:36Z")
    assert rule.find_ns("no time here") is None
    assert TimestampRule(re.compile(r"^(\d+\.\d+)"), "epoch").find_ns("1700000000.5 x") == (1_700_000_000_500_000_000)
    assert TimestampRule(re.compile(r"^(\d+)"), "epoch_ms").find_ns("1700000000123 x") == (1_700_000_000_123_000_000)
    naive = TimestampRule(re.compile(r"^(\S+)"), "iso")
    assert naive.find_ns("2026-01-02T03:04:05.123456 x") == parse_rfc3339_ns("2026-01-02T03:04:05.123456Z")


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=60), st.from_regex(r"-?\d{1,40}(\.\d{1,12})?([eE]-?\d{1,6})?", fullmatch=True)),
    st.sampled_from(["iso", "epoch", "epoch_ms", "%Y-%m-%d %H:%M:%S"]),
)
def test_any_text_gets_a_printable_time_or_its_predecessors(text, fmt):
    stamper = Stamper(TimestampRule(re.compile(r"^(\S+)"), fmt))
    stamper.stamp("2026-01-02T03:04:05Z first", 1)
    assert parse_rfc3339_ns(stamper.stamp(text, 2)) >= 0


def test_retry_after_forms():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
