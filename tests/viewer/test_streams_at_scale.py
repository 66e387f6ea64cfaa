"""The viewer with a tenant of many streams: paging as it scrolls, the server's filter, the
heading of the stream shown, and the newest line in view through layout changes."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from logriver.core.timeutil import format_rfc3339_ns
from tests.viewer.conftest import screenshot, signed_in
from tests.viewer.writer import numbered, stream_id, write_lines

LIVE = 20_000  # ms


async def write_streams(url: str, streams: list[dict[str, str]], newest_ns: int) -> None:
    """One line per stream; the last stream of the list gets the newest line."""
    last = len(streams) - 1
    lines: list[dict[str, Any]] = [
        {"labels": labels, "@timestamp": format_rfc3339_ns(newest_ns - (last - n) * 1_000_000), "message": "x"}
        for n, labels in enumerate(streams)
    ]
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer admin-acme"}) as session,
        session.post(f"{url}/api/v1/lines", json=lines, params={"refresh": "wait_for"}) as response,
    ):
        assert response.status == 200, await response.text()


# The line is inside the list's visible box and nothing covers it, as a person sees it.
FULLY_VISIBLE = """message => {
    const list = document.querySelector('.lines');
    const row = [...list.querySelectorAll('.row[data-id]')]
        .find(r => r.querySelector('.msg').textContent === message);
    if (!row) return false;
    const box = list.getBoundingClientRect(), r = row.getBoundingClientRect();
    const top = box.top + list.clientTop;  // inside the border, above a horizontal scrollbar
    const inside = r.top >= top - 0.5 && r.bottom <= top + list.clientHeight + 0.5;
    const seen = document.elementFromPoint(r.left + 40, (r.top + r.bottom) / 2);
    return inside && row.contains(seen);
}"""


async def wait_fully_visible(page: Page, message: str) -> None:
    try:
        await page.wait_for_function(FULLY_VISIBLE, arg=message, timeout=5000)
    except Exception:
        await screenshot(page, "not-fully-visible")
        debug = await page.evaluate(
            """message => {
            const list = document.querySelector('.lines');
            const rows = [...list.querySelectorAll('.row[data-id]')];
            const row = rows.find(r => r.querySelector('.msg').textContent === message);
            const box = list.getBoundingClientRect();
            return {found: !!row, r: row && row.getBoundingClientRect().toJSON(), box: box.toJSON(),
              ch: list.clientHeight, st: list.scrollTop, sh: list.scrollHeight, n: rows.length,
              last: rows.length && rows[rows.length-1].querySelector('.msg').textContent};
        }""",
            message,
        )
        raise AssertionError(debug) from None


async def test_many_streams_page_as_they_scroll_newest_first_and_filter_on_the_server(serve, page):
    url = await serve()
    streams = [{"job": "scale", "exe": f"job-{n:04d}-end"} for n in range(1100)]
    await write_streams(url, streams, time.time_ns() - 180 * 1_000_000_000)
    await signed_in(page, url, hash_path="#/streams")
    rows = page.locator("tr.stream-row")
    await expect(rows).to_have_count(100)
    await expect(rows.first).to_contain_text("exe=job-1099-end")  # the newest activity first
    ago = rows.first.locator("td.ago time")
    await expect(ago).to_have_text("3 min ago")
    assert (await ago.get_attribute("title") or "").endswith("Z")  # the exact time on hover
    await screenshot(page, "streams-many")

    scroller = page.locator(".streams-scroll")
    for _ in range(60):
        if await rows.count() >= 1100:
            break
        await scroller.evaluate("el => el.scrollTop = el.scrollHeight")
        await page.wait_for_timeout(200)
    await expect(rows).to_have_count(1100)
    await expect(rows.last).to_contain_text("exe=job-0000-end")
    shown = await rows.evaluate_all("rows => rows.map(r => r.dataset.stream)")
    assert len(set(shown)) == 1100
    await expect(page.get_by_role("status")).to_have_text("1100 streams")

    await page.get_by_label("Filter streams").fill("0537-E")
    await page.get_by_role("button", name="Apply filter").click()
    await expect(page.get_by_role("status")).to_have_text("1 stream")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("exe=job-0537-end")
    await screenshot(page, "streams-filtered")


async def test_heading_names_the_stream_opened_by_a_click_anywhere_on_its_row(serve, page):
    url = await serve()
    streams = [{"job": "heading", "n": f"{n:02d}"} for n in range(30)]
    await write_streams(url, streams, time.time_ns() - 60 * 1_000_000_000)
    await signed_in(page, url, hash_path="#/streams")
    row = page.locator("tr.stream-row", has_text="n=17")
    await row.locator("td.count").click()  # not the link: anywhere on the row
    wanted = await stream_id(url, streams[17])
    await expect(page).to_have_url(f"{url}/#/stream/{wanted}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("job=heading, n=17")
    await screenshot(page, "stream-heading")


async def test_following_keeps_the_newest_line_in_view_when_the_window_shrinks(serve, page, settings):
    url = await serve(dataclasses.replace(settings, tail_poll_seconds=0.2))
    labels = {"job": "resize"}
    await write_lines(url, labels, numbered(300))
    await signed_in(page, url, hash_path=f"#/stream/{await stream_id(url, labels)}")
    await expect(page.get_by_role("status").filter(has_text="live")).to_have_attribute("data-state", "live")
    follow = page.get_by_role("button", name="Follow new lines")
    await expect(follow).to_have_attribute("aria-pressed", "true")
    await wait_fully_visible(page, "line 000299")
    for height in (420, 300, 700, 360):
        await page.set_viewport_size({"width": 1000, "height": height})
        await wait_fully_visible(page, "line 000299")
        await expect(follow).to_have_attribute("aria-pressed", "true")
    await screenshot(page, "follow-resized")


async def test_a_stream_opens_with_its_newest_line_fully_visible_under_a_long_heading(serve, page):
    url = await serve()
    labels = {f"label_{k}": f"a-rather-long-value-number-{k}-" + "x" * 40 for k in range(8)}
    await write_lines(url, labels, numbered(2000))

    async def late_heading(route) -> None:  # type: ignore[no-untyped-def]
        # The heading arrives after the lines are placed, and wraps to several lines.
        await page.wait_for_timeout(1500)
        await route.continue_()

    await page.route("**/api/v1/streams?*", late_heading)
    await signed_in(page, url, hash_path=f"#/stream/{await stream_id(url, labels)}")
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_contain_text("label_7=a-rather-long-value-number-7")
    assert (await heading.bounding_box() or {"height": 0})["height"] > 40  # it did wrap
    await wait_fully_visible(page, "line 001999")
    await screenshot(page, "stream-long-heading")
