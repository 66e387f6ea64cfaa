"""GET /api/v1/tail over HTTP against the real app and Elasticsearch."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import socket
from typing import Any

import pytest

from logriver.core.indices import IndexLayout
from logriver.core.streams import stream_id
from logriver.core.timeutil import format_rfc3339_ns, now_ns
from logriver.query.arrivals import position_ns
from logriver.services import SERVICES
from tests.helpers import auth, ts
from tests.sse import WAIT, EventReader, open_tail


async def open_slow_tail(api, path: str) -> EventReader:
    """A tail read through a socket with a tiny receive buffer, so the server feels a slow reader."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((api.http.host, api.http.port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {path} HTTP/1.0\r\nAuthorization: Bearer read-acme\r\n\r\n".encode())
    status = await reader.readline()
    assert b" 200 " in status, status
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    pending = bytearray()

    async def readline() -> bytes:
        # Small reads keep asyncio's own buffer small too (StreamReader.readline would grow it).
        while b"\n" not in pending:
            chunk = await reader.read(16384)
            if not chunk:
                return bytes(pending)
            pending.extend(chunk)
        end = pending.index(b"\n") + 1
        line = bytes(pending[:end])
        del pending[:end]
        return line

    return await EventReader(readline, writer.close).opened()


async def post(api, messages: list[str], labels: dict | None = None, token: str = "admin-acme", **line: Any) -> None:
    body = {"labels": labels or {"app": "web"}, "lines": [{"@timestamp": ts(), "message": m} | line for m in messages]}
    result = await api.post_lines(body, token=token)
    assert result["accepted"] == len(messages), result


def fast(settings, **changes):
    return dataclasses.replace(settings, tail_poll_seconds=0.2, **changes)


async def test_new_lines_arrive_once_in_order_of_arrival(make_api, settings):
    api = await make_api(fast(settings))
    await post(api, ["before the tail"])
    tail = await open_tail(api, labels__app="web")
    await post(api, ["one", "two"])
    await post(api, ["three"])
    events = await tail.lines(3)
    assert [e.data["message"] for e in events] == ["one", "two", "three"]
    assert set(events[0].data) == {"id", "@timestamp", "order_num", "message", "labels", "fields", "stream_id"}
    assert [e.id for e in events] == sorted(e.id for e in events) and len({e.id for e in events}) == 3
    await post(api, ["sentinel"])
    assert await tail.messages(1) == ["sentinel"]  # nothing was sent twice in between
    tail.close()


async def test_line_with_an_older_timestamp_is_still_delivered(make_api, settings):
    api = await make_api(fast(settings))
    tail = await open_tail(api, labels__app="web")
    await post(api, ["now"])
    assert await tail.messages(1) == ["now"]
    await post(api, ["an hour late"], **{"@timestamp": ts(-3600)})
    await post(api, ["a day late"], **{"@timestamp": ts(-86400)})
    assert await tail.messages(2) == ["an hour late", "a day late"]
    tail.close()


async def test_line_visible_after_a_newer_one_is_delivered_once(make_api, settings, es):
    """A bulk that indexes slowly makes a smaller seq visible after a larger one was sent."""
    api = await make_api(fast(settings))
    tail = await open_tail(api, labels__app="web")
    await post(api, ["newer seq"])
    [newer] = await tail.lines(1)
    slow_seq = f"{position_ns(line_seq(newer.id)) - 1000:016x}000000"
    await index_line_directly(es, settings.index_prefix, "older seq, visible late", slow_seq)
    await post(api, ["after it"])
    assert await tail.messages(2) == ["older seq, visible late", "after it"]
    await post(api, ["sentinel"])
    assert await tail.messages(1) == ["sentinel"]
    tail.close()


def line_seq(event_id: str) -> str:
    """The seq of the line an event carries: its id, or the id's last part if the line went ahead
    of the settle time on its own worker (docs/tail.md, Resume)."""
    return event_id.rsplit(".", maxsplit=1)[-1]


async def index_line_directly(es, prefix: str, message: str, seq: str) -> None:
    """Store a line as the writer would, with a chosen seq (as if its bulk had been slow)."""
    stamp = now_ns()
    labels = {"app": "web"}
    document = {
        "@timestamp": format_rfc3339_ns(stamp),
        "order_num": 0,
        "seq": seq,
        "message": message,
        "labels": labels,
        "stream_id": stream_id("acme", labels),
        "tenant": "acme",
        "ingested_at": format_rfc3339_ns(position_ns(seq)),
        "fields": {},  # as the writer stamps it
    }
    index = IndexLayout(prefix).lines_index(stamp)
    await es.create(index=index, id=secrets.token_hex(16), document=document, refresh="wait_for")


@pytest.mark.parametrize("keep_group", [False, True], ids=["alone", "group-kept-alive"])
async def test_reconnect_with_last_event_id_has_no_gap_and_no_duplicate(make_api, settings, keep_group):
    api = await make_api(fast(settings))
    keeper = await open_tail(api, labels__app="web") if keep_group else None
    first = await open_tail(api, labels__app="web")
    await post(api, ["1", "2", "3"])
    events = await first.lines(3)
    first.close()
    await post(api, ["4", "5"])
    await post(api, ["6"])
    if keeper:
        assert await keeper.messages(6) == ["1", "2", "3", "4", "5", "6"]
        hub = api.http.app[SERVICES].tail_hub
        hub.settle_seconds = 0  # lines sent ahead: let the settled scan pass them too (as 0.3 s would)
        await hub.poll_once()  # the group is ahead now
    again = await open_tail(api, headers={"Last-Event-ID": events[-1].id}, labels__app="web")
    assert again.position == events[-1].id
    assert await again.messages(3) == ["4", "5", "6"]
    await post(api, ["7"])
    assert await again.messages(1) == ["7"]
    if keeper:
        assert api.http.app[SERVICES].tail_hub.arrivals.catch_up_requests > 0
        keeper.close()
    again.close()


async def test_resume_while_a_late_line_appears_sends_each_line_once(make_api, settings, es):
    """The catch-up from Elasticsearch and the live fan-out both see the late line; it goes out once."""
    api = await make_api(dataclasses.replace(settings, tail_poll_seconds=3600))  # rounds driven below
    hub = api.http.app[SERVICES].tail_hub
    hub.settle_seconds = 0  # writes below wait for refresh, so every line is visible at once
    keeper = await open_tail(api, labels__app="web")
    await post(api, ["1"])
    await post(api, ["2"])
    await hub.poll_once()
    one, _ = await keeper.lines(2)
    resumed = await open_tail(api, headers={"Last-Event-ID": keeper.position}, labels__app="web")
    await index_line_directly(es, settings.index_prefix, "late", f"{position_ns(line_seq(one.id)) + 1:016x}000000")
    await hub.poll_once()
    assert sorted(await resumed.messages(3)) == ["1", "2", "late"]
    await post(api, ["sentinel"])
    await hub.poll_once()
    assert await resumed.messages(1) == ["sentinel"]
    assert await keeper.messages(2) == ["late", "sentinel"]
    keeper.close()
    resumed.close()


async def test_resume_from_the_open_event_before_any_line(make_api, settings):
    api = await make_api(fast(settings))
    first = await open_tail(api, labels__app="web")
    first.close()
    await post(api, ["while away"])
    again = await open_tail(api, last_event_id=first.position, labels__app="web")
    assert await again.messages(1) == ["while away"]
    again.close()


async def test_slow_consumer_gets_a_dropped_event_and_a_bounded_buffer(make_api, settings):
    api = await make_api(fast(settings, tail_buffer_lines=5))
    hub = api.http.app[SERVICES].tail_hub
    tail = await open_slow_tail(api, "/api/v1/tail?labels.app=web")
    [subscription] = next(iter(hub.groups.values())).subscriptions
    big = "x" * 200_000  # fills the socket buffers quickly while the client does not read
    total = 0
    while subscription.dropped == 0:
        assert total < 480, "the server never felt the slow reader"
        for _ in range(4):  # requests under 1 MB: aiohttp warns about larger raw bodies
            await post(api, [f"{total + i:04d} {big}" for i in range(4)])
            total += 4
        await wait_for(lambda written=total: hub.lines_read >= written)
    received: list[str] = []
    dropped = 0
    while len(received) + dropped < total:
        event = await tail.next()
        if event.name == "dropped":
            dropped += event.data["dropped"]
        else:
            assert event.name == "message"
            received.append(event.data["message"][:4])
    assert dropped > 0 and dropped == subscription.dropped
    metrics = api.http.app[SERVICES].metrics.registry
    assert metrics.get_sample_value("logriver_tail_lines_dropped_total") == dropped
    assert metrics.get_sample_value("logriver_tail_lines_delivered_total") == len(received)
    assert received == sorted(received) and len(set(received)) == len(received)
    assert subscription.high_water <= 5
    tail.close()


async def wait_for(condition, timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_session_ends_at_the_maximum_duration(make_api, settings):
    api = await make_api(fast(settings, tail_max_seconds=1))
    tail = await open_tail(api, labels__app="web")
    end = await tail.next()
    assert end.name == "end" and end.data["reason"] == "max_duration"
    assert end.id == end.data["position"] == tail.position
    with pytest.raises(EOFError):
        await tail.next()


async def test_concurrent_tails_share_one_request_per_round(make_api, settings):
    api = await make_api(dataclasses.replace(settings, tail_poll_seconds=3600))  # rounds driven below
    hub = api.http.app[SERVICES].tail_hub
    hub.settle_seconds = 0  # writes below wait for refresh, so every line is visible at once
    web_a = await open_tail(api, labels__app="web")
    web_b = await open_tail(api, labels__app="web")
    db = await open_tail(api, labels__app="db")
    await post(api, ["w1", "w2"])
    await post(api, ["d1"], labels={"app": "db"})
    requests, searches = hub.arrivals.requests, hub.arrivals.searches
    await hub.poll_once()
    assert (hub.arrivals.requests, hub.arrivals.searches) == (requests + 1, searches + 2)
    assert len(hub.groups) == 2
    assert await web_a.messages(2) == ["w1", "w2"]
    assert await web_b.messages(2) == ["w1", "w2"]
    assert await db.messages(1) == ["d1"]
    for tail in (web_a, web_b, db):
        tail.close()


async def test_label_and_q_filters(make_api, settings):
    api = await make_api(fast(settings))
    tail = await open_tail(api, labels__app="web", q="error")
    await post(api, ["error one", "all fine"])
    await post(api, ["error elsewhere"], labels={"app": "db"})
    await post(api, ["error two"], labels={"app": "web", "host": "h1"})
    await post(api, ["error end"])
    assert await tail.messages(3) == ["error one", "error two", "error end"]
    tail.close()


async def test_tail_is_confined_to_the_callers_tenant(make_api, settings):
    api = await make_api(fast(settings))
    tail = await open_tail(api, token="admin-other", labels__app="web")
    await post(api, ["acme's line"])
    await post(api, ["other's line"], token="admin-other")
    assert await tail.messages(1) == ["other's line"]
    tail.close()


@pytest.mark.parametrize("token, status, error_type", [(None, 401, "unauthorized"), ("write-acme", 403, "forbidden")])
async def test_tail_needs_the_read_role(api, token, status, error_type):
    response = await api.http.get("/api/v1/tail", headers=auth(token) if token else {})
    assert response.status == status
    assert (await response.json())["error"]["type"] == error_type


@pytest.mark.parametrize(
    "params, headers, error_type",
    [
        ({"q": "(unclosed"}, {}, "invalid_query"),
        ({"last_event_id": "not-a-position"}, {}, "validation_error"),
        ({}, {"Last-Event-ID": "zz"}, "validation_error"),
        ({"labels.": "x"}, {}, "validation_error"),
    ],
)
async def test_bad_parameters_are_refused_before_streaming(api, params, headers, error_type):
    response = await api.http.get("/api/v1/tail", params=params, headers=auth("read-acme") | headers)
    assert response.status == 400
    assert (await response.json())["error"]["type"] == error_type


async def test_idle_stream_gets_heartbeats_and_ends_on_shutdown(make_api, settings):
    api = await make_api(fast(settings))
    hub = api.http.app[SERVICES].tail_hub
    hub.heartbeat_seconds = 0.2
    tail = await open_tail(api, labels__app="web")
    assert (await tail.next(comments=True)).name == ":"
    hub.close()
    end = await tail.next()
    assert end.name == "end" and end.data["reason"] == "shutdown"
    await wait_for(lambda: not hub.groups)
