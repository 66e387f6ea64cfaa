"""Follow mode: live lines through the tail, pausing when the user scrolls up, resuming; drops."""

from __future__ import annotations

import dataclasses

from aiohttp import web
from playwright.async_api import expect

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
