"""The tail poller refreshes only as often as its tails can use it: each round costs a refresh."""

from __future__ import annotations

import dataclasses

from logriver.core.handoff import WrittenStream
from logriver.query.reader import LineQuery
from logriver.query.tail import IDLE_AFTER_SECONDS, TailHub, TailPace, may_hold
from logriver.services import SERVICES
from tests.query.test_tail import post
from tests.sse import open_tail

NEVER = float("-inf")
HOUR = 3600.0


def hub_of(api) -> TailHub:
    hub: TailHub = api.http.app[SERVICES].tail_hub
    return hub


def test_the_pause_grows_after_a_while_without_lines_and_shrinks_at_once():
    pace = TailPace(0.2, 1.0)
    assert pace.pause(100.0) == 1.0, "nothing found yet"
    pace.busy(100.0)
    assert pace.pause(100.0 + IDLE_AFTER_SECONDS - 0.01) == 0.2
    assert pace.pause(100.0 + IDLE_AFTER_SECONDS) == 1.0
    pace.busy(200.0)
    assert pace.pause(200.0) == 0.2


def test_the_idle_pause_is_never_shorter_than_the_poll_interval():
    assert TailPace(5.0, 1.0).pause(0.0) == 5.0


def test_a_filter_may_hold_a_stream_of_its_tenant_with_all_its_labels():
    web = WrittenStream("acme", "s-web", {"app": "web", "host": "a"})
    assert may_hold(LineQuery(tenant="acme", labels={"app": "web"}), web)
    assert may_hold(LineQuery(tenant="acme", labels={"app": "web", "host": "a"}), web)
    assert may_hold(LineQuery(tenant="acme"), web)
    assert may_hold(LineQuery(tenant="acme", labels={"app": "web"}, text="error"), web), "q is not judged"
    assert not may_hold(LineQuery(tenant="other", labels={"app": "web"}), web)
    assert not may_hold(LineQuery(tenant="acme", labels={"app": "api"}), web)
    assert not may_hold(LineQuery(tenant="acme", labels={"app": "Web"}), web), "labels match exactly"
    assert not may_hold(LineQuery(tenant="acme", labels={"app": "web", "env": "prod"}), web)


def test_a_filter_on_stream_ids_holds_only_those_streams():
    web = WrittenStream("acme", "s-web", {"app": "web"})
    assert may_hold(LineQuery(tenant="acme", stream_id="s-web"), web)
    assert not may_hold(LineQuery(tenant="acme", stream_id="s-api"), web)
    assert may_hold(LineQuery(tenant="acme", stream_ids=("s-api", "s-web")), web)
    assert not may_hold(LineQuery(tenant="acme", stream_ids=()), web)


async def test_a_write_no_tail_can_match_leaves_the_poller_idle(make_api, settings):
    api = await make_api(settings)
    hub = hub_of(api)
    tail = await open_tail(api, labels__app="web")
    hub.pace.busy_at = NEVER  # as after a while without lines
    await post(api, ["elsewhere"], labels={"app": "api"})
    assert hub.pace.busy_at == NEVER, "a write to a stream no tail can match started an early round"
    await post(api, ["here"])
    assert hub.pace.busy_at > NEVER, "a write a tail can match starts an early round"
    assert await tail.messages(1) == ["here"]
    tail.close()


async def test_an_idle_tail_still_delivers_another_workers_line_and_speeds_up(make_api, settings):
    other = await make_api(settings)
    api = await make_api(dataclasses.replace(settings, tail_idle_poll_seconds=0.5))
    hub = hub_of(api)
    hub.heartbeat_seconds = HOUR  # a missing line fails the wait instead of a comment resetting it
    tail = await open_tail(api, labels__app="web")
    hub.pace.busy_at = NEVER
    await post(other, ["from the other worker"])  # this worker's hand-off never hears of it
    assert await tail.messages(1) == ["from the other worker"]
    assert hub.pace.busy_at > NEVER, "lines found bring the short pause back"
    tail.close()
