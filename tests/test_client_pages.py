"""`logriver streams`, `logriver lines` and `logriver tail --since` as real processes against the real service."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest

from logriver.cli import describe_node
from tests.clientproc import client_env, logriver_command, run_logriver
from tests.helpers import ApiClient, auth, ts
from tests.sse import open_tail

pytestmark = pytest.mark.es


async def post_stream(api: ApiClient, labels: dict[str, str], messages: list[str]) -> None:
    lines = [{"@timestamp": ts(), "message": m, "order_num": n} for n, m in enumerate(messages)]
    assert (await api.post_lines({"labels": labels, "lines": lines}))["accepted"] == len(messages)


async def test_streams_lists_with_label_filters(api):
    for n in range(5):
        await post_stream(api, {"app": "web", "n": str(n)}, ["x"] * (n + 1))
    await post_stream(api, {"app": "db"}, ["y"])
    done = await run_logriver(api, "streams", "-l", "app=web")
    assert done.code == 0, done.err
    printed = done.out.splitlines()
    assert sorted(line.split(" ", 1)[1] for line in printed) == [f"{n + 1} {{app=web,n={n}}}" for n in range(5)]
    assert all(line.split(" ")[0].endswith("Z") for line in printed)
    done = await run_logriver(api, "streams", "-l", "app=db", "--json")
    (stream,) = [orjson.loads(line) for line in done.out.splitlines()]
    assert stream["labels"] == {"app": "db"} and stream["lines"] == 1
    done = await run_logriver(api, "streams", "-l", "app=web", "--limit", "2")
    assert done.code == 0 and len(done.out.splitlines()) == 2


async def test_streams_pages_each_stream_once(api):
    """Against a server that pages (next_token), every stream once; before paging, the first page only."""
    for n in range(7):
        await post_stream(api, {"app": "paged", "n": str(n)}, ["x"])
    answer = await api.get("/api/v1/streams", **{"labels.app": "paged", "limit": 3})
    done = await run_logriver(api, "streams", "-l", "app=paged", "--page-size", "3")
    assert done.code == 0, done.err
    printed = [line.split(" ", 2)[2] for line in done.out.splitlines()]
    assert len(printed) == len(set(printed))
    if "next_token" in answer:
        assert sorted(printed) == [f"{{app=paged,n={n}}}" for n in range(7)]
        found = await run_logriver(api, "streams", "--match", "aged")
        assert len(found.out.splitlines()) == 7
    else:
        assert len(printed) == 3  # a missing next_token is the last page


async def test_lines_pages_both_ways_and_continues_from_a_token(api):
    messages = [f"m{n:02d}" for n in range(25)]
    await post_stream(api, {"job": "pages"}, messages)
    done = await run_logriver(api, "lines", "-l", "job=pages", "--page-size", "4", "--messages")
    assert done.out.splitlines() == messages and done.err == ""
    done = await run_logriver(api, "lines", "-l", "job=pages", "--page-size", "4", "--messages", "--from", "tail")
    assert done.out.splitlines() == messages[::-1]

    first = await run_logriver(api, "lines", "-l", "job=pages", "--page-size", "3", "--limit", "8", "--messages")
    assert first.out.splitlines() == messages[:8]
    token = first.err.split("--page-token ")[1].strip()
    rest = await run_logriver(api, "lines", "-l", "job=pages", "--page-token", token, "--messages")
    assert rest.out.splitlines() == messages[8:]

    newest = await run_logriver(api, "lines", "-l", "job=pages", "--from", "tail", "--limit", "5", "--messages")
    assert newest.out.splitlines() == messages[:-6:-1]
    token = newest.err.split("--page-token ")[1].strip()
    older = await run_logriver(api, "lines", "-l", "job=pages", "--from", "tail", "--page-token", token, "--messages")
    assert older.out.splitlines() == messages[-6::-1]


async def test_lines_json_and_plain(api):
    await post_stream(api, {"job": "shapes"}, ["alpha", "beta"])
    done = await run_logriver(api, "lines", "-l", "job=shapes", "--json")
    lines = [orjson.loads(line) for line in done.out.splitlines()]
    assert lines == (await api.get_lines(labels__job="shapes"))["lines"]
    done = await run_logriver(api, "lines", "-l", "job=shapes")
    assert [line.split(" ", 1)[1] for line in done.out.splitlines()] == ["{job=shapes} alpha", "{job=shapes} beta"]


async def test_lines_and_streams_refused(api):
    for command in ("lines", "streams"):
        done = await run_logriver(api, command, token="nonsense")
        assert done.code == 1 and "401 invalid_credentials" in done.err


async def test_tail_since_starts_back_then_follows(make_api, settings):
    api = await make_api(dataclasses.replace(settings, tail_poll_seconds=0.2))
    await post_stream(api, {"job": "since"}, ["earlier 1", "earlier 2"])
    process = await asyncio.create_subprocess_exec(
        *logriver_command(), "tail", "-l", "job=since", "--since", "10m", "-n", "3",
        env=client_env(api, "read-acme"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await post_stream(api, {"job": "since"}, ["later"])
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err
    assert [line.split(" ", 2)[2] for line in out.decode().splitlines()] == ["earlier 1", "earlier 2", "later"]


async def test_tail_since_in_the_api(make_api, settings):
    api = await make_api(dataclasses.replace(settings, tail_poll_seconds=0.2))
    await post_stream(api, {"app": "web"}, ["1", "2", "3"])
    plain = await open_tail(api, labels__app="web")
    back = await open_tail(api, labels__app="web", since="10m")
    events = await back.lines(3)
    assert [event.data["message"] for event in events] == ["1", "2", "3"]
    # A resume wins over `since`: an EventSource reconnecting with `since` in its URL repeats nothing.
    resumed = await open_tail(api, headers={"Last-Event-ID": events[1].id}, labels__app="web", since="10m")
    assert await resumed.messages(1) == ["3"]
    await post_stream(api, {"app": "web"}, ["4"])
    assert await plain.messages(1) == ["4"]  # without `since`, only what comes after
    assert await back.messages(1) == ["4"] and await resumed.messages(1) == ["4"]
    for reader in (plain, back, resumed):
        reader.close()
    response = await api.http.get("/api/v1/tail", params={"since": "ten minutes"}, headers=auth("read-acme"))
    assert response.status == 400
    assert "since" in (await response.json())["error"]["details"]["parameters"]


def test_es_status_is_one_readable_line():
    status = {"pid": 4759, "url": "http://127.0.0.1:9250", "healthy": True, "version": "9.2.4"}
    assert describe_node("default", status) == "default http://127.0.0.1:9250 pid 4759 healthy, Elasticsearch 9.2.4"
    starting = describe_node("default", status | {"healthy": False, "version": None})
    assert starting.startswith("default http://127.0.0.1:9250 pid 4759 not healthy") and "{" not in starting
