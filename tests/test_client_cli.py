"""`logriver tail` and `logriver search` against a real server on a real port (no mocks)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io

import orjson
import pytest

from logriver.cli import main
from logriver.client_cli import Selection, TailClient, Target, format_line, parse_label, search, since_start
from logriver.services import SERVICES
from tests.helpers import ts

WAIT = 20.0


async def post(api, messages: list[str], labels: dict | None = None, **line) -> None:
    body = {"labels": labels or {"app": "web"}, "lines": [{"@timestamp": ts(), "message": m} | line for m in messages]}
    assert (await api.post_lines(body))["accepted"] == len(messages)


async def fast_api(make_api, settings, **changes):
    return await make_api(dataclasses.replace(settings, tail_poll_seconds=0.2, **changes))


def target(api, token: str = "read-acme") -> Target:
    return Target(str(api.http.make_url("/")), token)


async def wait_for(condition, timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def subscriptions(api) -> set:
    return {s for group in api.http.app[SERVICES].tail_hub.groups.values() for s in group.subscriptions}


async def test_tail_prints_new_lines_as_timestamp_labels_message(make_api, settings):
    api = await fast_api(make_api, settings)
    out, err = io.StringIO(), io.StringIO()
    client = TailClient(target(api), Selection({"app": "web"}), out, err)
    task = asyncio.create_task(client.run(max_lines=3))
    await wait_for(lambda: subscriptions(api))
    await post(api, ["one", "two"], labels={"app": "web", "host": "h1"})
    await post(api, ["elsewhere"], labels={"app": "db"})
    await post(api, ["three"], labels={"app": "web", "host": "h1"})
    assert await asyncio.wait_for(task, WAIT) == 0
    printed = out.getvalue().splitlines()
    assert [line.split(" ", 2)[1:] for line in printed] == [["{app=web,host=h1}", m] for m in ("one", "two", "three")]
    assert all(line.split(" ")[0].endswith("Z") for line in printed)


async def test_tail_json_lines_with_q(make_api, settings):
    api = await fast_api(make_api, settings)
    out = io.StringIO()
    client = TailClient(target(api), Selection({"app": "web"}, q="error"), out, io.StringIO(), as_json=True)
    task = asyncio.create_task(client.run(max_lines=2))
    await wait_for(lambda: subscriptions(api))
    await post(api, ["error a", "fine", "error b"])
    assert await asyncio.wait_for(task, WAIT) == 0
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["error a", "error b"]
    assert lines == (await api.get_lines(labels__app="web", q="error"))["lines"]


async def test_tail_continues_across_sessions_without_gap_or_repeat(make_api, settings):
    api = await fast_api(make_api, settings, tail_max_seconds=1)
    out, err = io.StringIO(), io.StringIO()
    client = TailClient(target(api), Selection({"app": "web"}), out, err)
    task = asyncio.create_task(client.run(max_lines=4))
    await wait_for(lambda: subscriptions(api))
    first = subscriptions(api)
    await post(api, ["a", "b"])
    await wait_for(lambda: client.printed == 2)
    await post(api, ["c"])  # sent around the end of the first session
    await wait_for(lambda: subscriptions(api) and not subscriptions(api) & first)
    await post(api, ["d"])
    assert await asyncio.wait_for(task, WAIT) == 0
    assert [line.rsplit(" ", 1)[1] for line in out.getvalue().splitlines()] == ["a", "b", "c", "d"]
    assert err.getvalue() == ""  # the planned end of a session is not an error


async def test_tail_refused_by_the_server_exits_1(api):
    err = io.StringIO()
    code = await TailClient(target(api, "write-acme"), Selection(), io.StringIO(), err).run()
    assert code == 1 and "403 forbidden" in err.getvalue()


async def test_search_prints_matching_lines_and_a_summary(api):
    await post(api, ["error one", "fine"])
    await post(api, ["error two"])
    await post(api, ["error elsewhere"], labels={"app": "db"})
    out, err = io.StringIO(), io.StringIO()
    code = await search(target(api), Selection({"app": "web"}, q="error"), out, err, sort="asc")
    assert code == 0
    assert [line.split(" ", 2)[2] for line in out.getvalue().splitlines()] == ["error one", "error two"]
    assert err.getvalue().strip() == "2 of 2 lines"


async def test_search_json_with_a_window_and_limit(api):
    await post(api, ["old"], **{"@timestamp": ts(-7200)})
    await post(api, ["new 1", "new 2", "new 3"])
    out, err = io.StringIO(), io.StringIO()
    code = await search(target(api), Selection(), out, err, as_json=True, start=ts(-3600), limit=2, sort="asc")
    assert code == 0 and err.getvalue() == ""
    assert [orjson.loads(line)["message"] for line in out.getvalue().splitlines()] == ["new 1", "new 2"]


async def test_search_refusal_is_reported(api):
    err = io.StringIO()
    assert await search(target(api, "nonsense"), Selection(), io.StringIO(), err) == 1
    assert "401 invalid_credentials" in err.getvalue()
    err = io.StringIO()
    assert await search(target(api), Selection(q="(oops"), io.StringIO(), err) == 1
    assert "400 invalid_query" in err.getvalue()


async def test_command_line_search_and_tail(make_api, settings, capsys, monkeypatch):
    api = await fast_api(make_api, settings)
    monkeypatch.setenv("LOGRIVER_URL", str(api.http.make_url("/")))
    monkeypatch.setenv("LOGRIVER_TOKEN", "read-acme")
    await post(api, ["stored"], labels={"app": "web", "env": "prod"})
    argv = ["search", "stored", "-l", "app=web", "-l", "env=prod", "--since", "1h", "--json"]
    code = await asyncio.to_thread(main, argv)
    assert code == 0
    assert orjson.loads(capsys.readouterr().out)["message"] == "stored"
    tail = asyncio.create_task(asyncio.to_thread(main, ["tail", "-l", "app=web", "-n", "1"]))
    await wait_for(lambda: subscriptions(api))
    await post(api, ["live"], labels={"app": "web", "env": "prod"})
    assert await asyncio.wait_for(tail, WAIT) == 0
    assert capsys.readouterr().out.strip().endswith("{app=web,env=prod} live")


@pytest.mark.parametrize("text", ["app", "=web", ""])
def test_label_selection_needs_key_and_value(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_label(text)


def test_since_needs_a_duration():
    with pytest.raises(argparse.ArgumentTypeError):
        since_start("yesterday")
    assert since_start("15m") < ts()


def test_format_line():
    line = {"@timestamp": "2024-05-01T12:00:00Z", "labels": {"b": "2", "a": "1"}, "message": "hello"}
    assert format_line(line) == "2024-05-01T12:00:00Z {a=1,b=2} hello"
    assert orjson.loads(format_line(line, as_json=True)) == line
