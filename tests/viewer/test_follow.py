"""Follow mode: live lines through the tail, pausing when the user scrolls up, resuming; drops."""

from __future__ import annotations

import asyncio
import dataclasses
import re

from aiohttp import web
from playwright.async_api import expect

from logriver.services import SERVICES
from tests.viewer.conftest import screenshot, signed_in
from tests.viewer.writer import now_lines, numbered, stream_id, write_lines

LIVE = 20_000  # ms; the tail delivers about two seconds after a write, more on a busy machine


def fast(settings, **changes):
    return dataclasses.replace(settings, tail_poll_seconds=0.2, **changes)


async def open_stream(page, url: str, labels: dict[str, str]) -> None:
    await signed_in(page, url, hash_path=f"#/stream/{await stream_id(url, labels)}")
    await expect(page.get_by_role("status").filter(has_text="live")).to_have_attribute("data-state", "live")


async def messages(page) -> list[str]:
    return await page.locator(".lines").evaluate(
        """list => [...list.querySelectorAll('.row[data-id]')]
            .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
            .map(row => row.querySelector('.msg').textContent)"""
    )


async def test_follow_shows_new_lines_pauses_on_scroll_up_and_resumes(serve, page, settings):
    url = await serve(fast(settings))
    labels = {"job": "follow"}
    await write_lines(url, labels, numbered(200))
    await open_stream(page, url, labels)
    follow = page.get_by_role("button", name="Follow new lines")
    await expect(follow).to_have_attribute("aria-pressed", "true")

    await write_lines(url, labels, now_lines("fresh line"))
    await expect(page.locator(".row .msg", has_text="fresh line")).to_be_in_viewport(timeout=LIVE)

    await page.locator(".lines").hover()
    await page.mouse.wheel(0, -1500)
    await expect(follow).to_have_attribute("aria-pressed", "false")
    await write_lines(url, labels, now_lines("later 1", "later 2", "later 3"))
    resume = page.get_by_role("button", name="3 new lines: resume following")
    await expect(resume).to_be_visible(timeout=LIVE)
    await expect(page.locator(".row .msg", has_text="later 3")).not_to_be_in_viewport()
    await screenshot(page, "follow-paused")

    await resume.click()
    await expect(page.locator(".row .msg", has_text="later 3")).to_be_in_viewport()
    await expect(follow).to_have_attribute("aria-pressed", "true")
    await expect(resume).to_be_hidden()

    await page.locator(".lines").focus()
    await page.keyboard.press("f")
    await expect(follow).to_have_attribute("aria-pressed", "false")
    await page.mouse.wheel(0, -1500)
    await expect(page.locator(".row .msg", has_text="later 3")).not_to_be_in_viewport()
    await page.keyboard.press("End")
    await expect(follow).to_have_attribute("aria-pressed", "true")
    await expect(page.locator(".row .msg", has_text="later 3")).to_be_in_viewport()
    tail = await messages(page)
    assert tail[-4:] == ["fresh line", "later 1", "later 2", "later 3"]


class TailConnections:
    """Records the tail requests reaching the server, and cuts them from the server side."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []

    def install(self, app: web.Application) -> None:
        @web.middleware
        async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
            if request.path == "/api/v1/tail":
                self.requests.append(request)
            return await handler(request)

        app.middlewares.append(record)

    def cut(self) -> None:
        for request in self.requests:
            if request.transport is not None:
                request.transport.close()


async def test_a_cut_tail_connection_resumes_without_gap_or_repeat(serve, page, settings):
    connections = TailConnections()
    url = await serve(fast(settings), hook=connections.install)
    labels = {"job": "cut"}
    await write_lines(url, labels, numbered(10))
    await open_stream(page, url, labels)
    await write_lines(url, labels, now_lines(*(f"before cut {i}" for i in range(5))))
    await expect(page.locator(".row .msg", has_text="before cut 4")).to_be_visible(timeout=LIVE)

    connections.cut()
    await write_lines(url, labels, now_lines(*(f"after cut {i}" for i in range(5))))
    await expect(page.locator(".row .msg", has_text="after cut 4")).to_be_visible(timeout=LIVE)
    assert len(connections.requests) >= 2, "the viewer did not reconnect"
    assert connections.requests[-1].headers.get("Last-Event-ID"), "the reconnect did not resume from the last event"
    expected = [f"line {i:06d}" for i in range(10)]
    expected += [f"before cut {i}" for i in range(5)] + [f"after cut {i}" for i in range(5)]
    assert await messages(page) == expected


def throttle(bytes_per_second: int) -> dict[str, object]:
    return {"offline": False, "latency": 0, "downloadThroughput": bytes_per_second, "uploadThroughput": -1}


async def test_lines_dropped_by_a_slow_reader_are_marked_where_they_were_lost(serve, page, settings):
    apps: list[web.Application] = []
    url = await serve(fast(settings, tail_buffer_lines=5), hook=apps.append)
    hub = apps[0][SERVICES].tail_hub
    labels = {"job": "drops"}
    await write_lines(url, labels, numbered(3))
    # A slow network: the server's socket fills, its per-client queue of 5 lines overflows.
    network = await page.context.new_cdp_session(page)
    await network.send("Network.enable")
    await network.send("Network.emulateNetworkConditions", throttle(200_000))
    await page.set_viewport_size({"width": 1280, "height": 2000})  # all 64 rows on screen, none virtualised away
    await open_stream(page, url, labels)
    big = "x" * 200_000
    await write_lines(url, labels, now_lines(*(f"burst {i:02d} {big}" for i in range(60))))
    for _ in range(300):
        dropped = sum(s.dropped for group in hub.groups.values() for s in group.subscriptions)
        if dropped:
            break
        await asyncio.sleep(0.1)
    assert dropped, "the server never had to drop lines"
    await network.send("Network.emulateNetworkConditions", throttle(-1))
    await write_lines(url, labels, now_lines("after the burst"))
    await expect(page.locator(".row .msg", has_text="after the burst")).to_be_visible(timeout=LIVE)

    rows = await page.locator(".lines").evaluate(
        """list => [...list.querySelectorAll('.row')]
            .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
            .map(row => row.dataset.marker
                ? 'marker ' + row.textContent
                : row.querySelector('.msg').textContent.slice(0, 20))"""
    )
    markers = [row for row in rows if row.startswith("marker")]
    shown = [row for row in rows if row.startswith("burst")]
    counts = [int(re.search(r"(\d+) lines dropped here", m).group(1)) for m in markers]  # type: ignore[union-attr]
    total_dropped = sum(s.dropped for group in hub.groups.values() for s in group.subscriptions)
    assert markers and sum(counts) == total_dropped
    assert len(shown) + sum(counts) == 60, "every burst line is either shown or counted as dropped"
    assert rows.index(markers[0]) > rows.index(shown[0]), "the marker is not where the lines were lost"
    assert rows[-1] == "after the burst"
    await page.locator(".row.marker").first.scroll_into_view_if_needed()
    await screenshot(page, "dropped-marker")
