"""Search: total, highlights, a histogram whose bars narrow the window, show in context, bad queries."""

from __future__ import annotations

import re
import time

from playwright.async_api import expect

from logriver.core.timeutil import format_rfc3339_ns
from tests.viewer.conftest import screenshot, signed_in, unnamed_controls
from tests.viewer.writer import write_lines


def spread_lines() -> list[dict]:
    """40 lines 30 s apart over the last 20 minutes; every fourth says error."""
    base = time.time_ns() - 20 * 60 * 1_000_000_000
    return [
        {
            "@timestamp": format_rfc3339_ns(base + i * 30 * 1_000_000_000),
            "message": f"error: disk full at step {i}" if i % 4 == 0 else f"ok step {i}",
        }
        for i in range(40)
    ]


async def test_search_highlights_histogram_window_and_context(serve, page):
    url = await serve()
    await write_lines(url, {"job": "disk"}, spread_lines())
    network = [{"@timestamp": format_rfc3339_ns(time.time_ns() - 60_000_000_000), "message": "error: network down"}]
    await write_lines(url, {"job": "net"}, network * 1)
    await signed_in(page, url)
    await expect(page.get_by_role("heading", name="Streams")).to_be_visible()

    await page.keyboard.press("/")
    search = page.get_by_label("Search query")
    await expect(search).to_be_focused()
    await search.fill("error")
    await search.press("Enter")
    await expect(page.locator(".search-view .summary")).to_have_text("11 hits")
    await expect(page).to_have_url(f"{url}/#/search?q=error")
    marks = page.locator(".hit mark")
    await expect(marks).to_have_count(11)
    assert set(await marks.all_text_contents()) == {"error"}
    bars = page.locator(".histogram .bar")
    counts = [int(c or 0) for c in await bars.evaluate_all("bars => bars.map(b => b.dataset.count)")]
    assert sum(counts) == 11 and len(counts) > 3, counts
    await screenshot(page, "search")
    assert await unnamed_controls(page) == []

    # one bar: the window becomes that bar's time range
    first = next(i for i, c in enumerate(counts) if c)
    await bars.nth(first).click()
    await expect(page).to_have_url(re.compile(r"#/search\?q=error&start=[^&]+&end=[^&]+$"))
    await expect(page.locator(".search-view .summary")).to_have_text(
        f"{counts[first]} hit" + ("s" if counts[first] > 1 else "")
    )
    await expect(page.get_by_role("button", name="Clear window")).to_be_visible()
    await page.go_back()
    await expect(page.locator(".search-view .summary")).to_have_text("11 hits")

    # brushing across bars: the window spans them all
    last = max(i for i, c in enumerate(counts) if c)
    start_box, end_box = await bars.nth(first).bounding_box(), await bars.nth(last).bounding_box()
    assert start_box and end_box
    await page.mouse.move(start_box["x"] + start_box["width"] / 2, start_box["y"] + start_box["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(end_box["x"] + end_box["width"] / 2, end_box["y"] + 2, steps=5)
    await page.mouse.up()
    await expect(page).to_have_url(re.compile(r"start="))
    await expect(page.locator(".search-view .summary")).to_have_text(f"{sum(counts[first : last + 1])} hits")

    await page.get_by_label("Time zone").select_option("local")
    await expect(page.locator(".hit .ts").first).to_have_text(re.compile(r"\.\d{9}\+01:00$"))

    hit = page.locator(".hit", has_text="disk full at step 8")
    await hit.get_by_role("link", name="Show in context").click()
    target = page.locator(".row.target")
    await expect(target).to_contain_text("error: disk full at step 8")
    await expect(target).to_be_in_viewport()
    await expect(page.locator(".row .msg", has_text="ok step 7")).to_be_visible()
    await expect(page.locator(".row .msg", has_text="ok step 9")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"#/stream/[0-9a-f]{32}\?line=[0-9A-Za-z_-]+$"))


async def test_a_bad_query_is_shown_with_the_servers_message(serve, page):
    url = await serve()
    await signed_in(page, url, hash_path="#/search?q=" + "error%20AND%20(")
    banner = page.get_by_role("alert")
    await expect(banner).to_contain_text("400 invalid query")
    await expect(banner.get_by_role("button", name="Retry")).to_be_visible()
    await screenshot(page, "bad-query")
    await page.get_by_label("Search query").fill("nosuchfield:x")
    await page.get_by_label("Search query").press("Enter")
    await expect(banner).to_contain_text("nosuchfield")
