"""The write path's hand-off: a worker sends its own lines ahead of the settle time, exactly once.

Two apps on one index prefix stand for two workers. A settle time of an hour keeps the shared
poll's settled scan away from the lines, so whatever arrives went ahead; setting it to zero then
lets the settled scan read the same lines, as it does a settle time later in production.
"""

from __future__ import annotations

import dataclasses

from logriver.query.arrivals import TailPosition, position_ns
from logriver.query.tail import TailHub
from logriver.services import SERVICES
from tests.query.test_tail import index_line_directly, post
from tests.sse import open_tail

HOUR = 3600.0


def hub_of(api) -> TailHub:
    hub: TailHub = api.http.app[SERVICES].tail_hub
    return hub


async def settled_round(hub: TailHub) -> None:
    """A round whose settled scan reads every line stored so far."""
    hub.settle_seconds = 0
    await hub.poll_once()


async def seqs_of(es, prefix: str, ids: list[str]) -> list[str]:
    found = await es.search(index=f"{prefix}*", query={"ids": {"values": ids}}, size=len(ids), _source=["seq"])
    by_id = {hit["_id"]: hit["_source"]["seq"] for hit in found["hits"]["hits"]}
    return [by_id[i] for i in ids]


async def test_a_line_sent_ahead_is_not_sent_again_by_the_settled_scan(make_api, settings):
    api = await make_api(settings)
    hub = hub_of(api)
    hub.settle_seconds = HOUR
    tail = await open_tail(api, labels__app="web")
    await post(api, ["one", "two"])
    await post(api, ["three"])
    events = await tail.lines(3)
    assert [e.data["message"] for e in events] == ["one", "two", "three"]
    assert all("." in e.id for e in events), "sent ahead: the id carries this worker's part"
    await settled_round(hub)  # reads the same three lines again
    await post(api, ["sentinel"])
    await settled_round(hub)
    [sentinel] = await tail.lines(1)
    assert sentinel.data["message"] == "sentinel"  # nothing was sent twice in between
    assert "." not in sentinel.id, "the settled scan passed every line: the id is one seq again"
    tail.close()


async def test_a_write_in_flight_holds_back_the_lines_of_later_writes(make_api, settings, es):
    """Seqs are reserved before the bulk request; a later write can finish first, and waits."""
    api = await make_api(settings)
    hub, writer = hub_of(api), api.http.app[SERVICES].writer
    hub.settle_seconds = HOUR
    tail = await open_tail(api, labels__app="web")
    with writer.handoff.writing():  # a write that has reserved its seq and is not stored yet
        base, node = writer.sequence.reserve(1)
        await post(api, ["later write"])
        await hub.poll_once()
        [group] = hub.groups.values()
        assert group.ahead == {}, "nothing goes ahead of a write in flight"
        await index_line_directly(es, settings.index_prefix, "earlier write", f"{base:016x}{node}")
    assert await tail.messages(2) == ["earlier write", "later write"]
    tail.close()


async def test_a_visible_line_of_another_worker_holds_later_local_lines_back(make_api, settings):
    other, api = await make_api(settings), await make_api(settings)
    hub = hub_of(api)
    hub.settle_seconds = HOUR
    tail = await open_tail(api, labels__app="web")
    await post(api, ["local before"])
    assert await tail.messages(1) == ["local before"]
    await post(other, ["from the other worker"])  # answered before the next write begins
    await post(api, ["local after"])
    await hub.poll_once()
    [group] = hub.groups.values()
    assert len(group.ahead) == 1, "only the first local line went ahead"
    await settled_round(hub)
    assert await tail.messages(2) == ["from the other worker", "local after"]
    tail.close()


async def test_lines_of_another_worker_still_arrive_between_local_ones(make_api, settings):
    other, api = await make_api(settings), await make_api(settings)
    tail = await open_tail(api, labels__app="web")
    written = []
    for i in range(3):
        for name, app in (("local", api), ("other", other)):
            await post(app, [f"{name} {i}"])
            written.append(f"{name} {i}")
    assert await tail.messages(6) == written
    await post(api, ["sentinel"])
    assert await tail.messages(1) == ["sentinel"]
    tail.close()


async def test_resume_from_an_id_given_ahead_has_no_gap_and_no_duplicate(make_api, settings, es):
    """A line of another worker with a seq between the settled part and the ahead part still comes."""
    other, api = await make_api(settings), await make_api(settings)
    hub = hub_of(api)
    hub.settle_seconds = HOUR
    first = await open_tail(api, labels__app="web")
    await post(api, ["a", "b"])
    await post(other, ["remote"])
    await post(api, ["c"])  # held back behind the visible remote line
    _, b = await first.lines(2)
    first.close()
    # Another worker's slow bulk: a seq between the id's settled part and b, stored only now.
    [seq_b] = await seqs_of(es, settings.index_prefix, [b.data["id"]])
    late = f"{position_ns(seq_b) - 1:016x}000000"
    await index_line_directly(es, settings.index_prefix, "late", late)
    position = TailPosition.parse(b.id)
    [seq_b, seq_remote] = await seqs_of(es, settings.index_prefix, [b.data["id"], await remote_id(other)])
    assert position.settled < seq_remote and position.covers(seq_b) and not position.covers(seq_remote)
    for where in (api, other):
        hub_of(where).settle_seconds = 0
        hub_of(where).heartbeat_seconds = HOUR  # a missing line fails the wait instead of a comment resetting it
        again = await open_tail(where, headers={"Last-Event-ID": b.id}, labels__app="web")
        assert await again.messages(3) == ["late", "remote", "c"]
        again.close()


async def remote_id(other) -> str:
    found = await other.get_lines(**{"labels.app": "web", "q": "remote"})
    [line] = found["lines"]
    line_id: str = line["id"]
    return line_id


def test_positions_parse_and_print_their_parts():
    settled, mine, theirs = "1" * 16 + "aaaaaa", "2" * 16 + "bbbbbb", "3" * 16 + "cccccc"
    position = TailPosition.parse(f"{settled}.{mine}")
    assert position.text() == f"{settled}.{mine}"
    assert position.covers("2" * 15 + "0bbbbbb") and not position.covers("2" * 15 + "0cccccc")
    assert position.after_ahead(theirs).text() == f"{settled}.{mine}.{theirs}"
    assert position.after_settled(mine).text() == mine  # a part falls away once settled passes it
    assert dataclasses.astuple(TailPosition.parse(settled)) == (settled, ())
