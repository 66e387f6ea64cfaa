"""Lines: permalinks centred in context, ANSI colours, fields, copy, time zones, wrapping."""

from __future__ import annotations

import itertools
import re

import aiohttp
from playwright.async_api import expect

from tests.viewer.conftest import screenshot, signed_in, unnamed_controls
from tests.viewer.writer import now_lines, numbered, stream_id, write_lines

ANSI = (
    "\x1b[31mred\x1b[0m plain \x1b[1;38;5;208mbold orange\x1b[22m still orange\x1b[0m "
    "\x1b[38;2;10;200;30;44mtrue on blue\x1b[39;49m \x1b[92mbright\x1b[m end\x1b[2K"
)


async def stream_lines(url: str, sid: str) -> list[dict]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer read-acme"}) as session,
        session.get(f"{url}/api/v1/lines", params={"stream_id": sid, "limit": "10000"}) as response,
    ):
        return list((await response.json())["lines"])


async def test_a_permalink_opens_centred_on_its_line_in_context(serve, page):
    url = await serve()
    labels = {"job": "perma"}
    await write_lines(url, labels, numbered(3000))
    sid = await stream_id(url, labels)
    lines = await stream_lines(url, sid)
    target = lines[1500]["id"]
    await signed_in(page, url, hash_path=f"#/stream/{sid}?line={target}")
    row = page.locator(f'.row[data-id="{target}"]')
    await expect(row).to_have_class(re.compile(r"\btarget\b"))
    await expect(row).to_contain_text("line 001500")
    await expect(page.locator(".row .msg", has_text="line 001499")).to_be_in_viewport()
    await expect(page.locator(".row .msg", has_text="line 001501")).to_be_in_viewport()
    list_box = await page.locator(".lines").bounding_box()
    row_box = await row.bounding_box()
    assert list_box and row_box
    centre_gap = abs((row_box["y"] + row_box["height"] / 2) - (list_box["y"] + list_box["height"] / 2))
    assert centre_gap <= row_box["height"], f"the line is {centre_gap}px off centre"
    follow = page.get_by_role("button", name="Follow new lines")
    await expect(follow).to_have_attribute("aria-pressed", "false")
    await screenshot(page, "permalink")

    # the row's own link is the permalink; scrolling on from the context reaches both ends
    assert (
        await row.get_by_role("link", name="Link to this line").get_attribute("href") == f"#/stream/{sid}?line={target}"
    )
    await page.get_by_role("button", name="Oldest lines").click()
    await expect(page.locator(".row .msg", has_text="line 000000")).to_be_in_viewport()
    await expect(page).to_have_url(f"{url}/#/stream/{sid}")
    await page.go_back()
    await expect(page.locator(f'.row.target[data-id="{target}"]')).to_be_in_viewport()
    assert await unnamed_controls(page) == []

    # jump to a time: the first line at or after it, centred, and a history entry
    await page.get_by_label("Jump to time").fill(lines[2000]["@timestamp"])
    await page.get_by_role("button", name="Go to time").click()
    await expect(page.locator(".row.target .msg")).to_have_text("line 002000")
    await expect(page.locator(".row.target")).to_be_in_viewport()
    await expect(page).to_have_url(f"{url}/#/stream/{sid}?line={lines[2000]['id']}")


async def test_ansi_colours_fields_copy_time_zone_and_wrap(serve, page):
    url = await serve()
    labels = {"job": "colours"}
    long = "long " + "x" * 400
    huge = "huge " + "y" * 99_995
    lines = now_lines(ANSI, long, huge)
    lines[0]["fields"] = {"exit_code": 3, "host": {"name": "ci-7"}}
    lines[0]["@timestamp"] = "2026-12-01T23:30:00.123456789Z"
    await write_lines(url, labels, lines)
    await signed_in(page, url, hash_path=f"#/stream/{await stream_id(url, labels)}")
    row = page.locator(".row", has_text="plain")
    await expect(row).to_be_visible()

    spans = row.locator(".msg span.ansi")
    styles = await spans.evaluate_all(
        """spans => spans.map(s => [s.textContent, getComputedStyle(s).color,
              getComputedStyle(s).backgroundColor, getComputedStyle(s).fontWeight])"""
    )
    transparent = "rgba(0, 0, 0, 0)"
    assert styles == [
        ["red", "rgb(205, 49, 49)", transparent, "400"],
        ["bold orange", "rgb(255, 135, 0)", transparent, "700"],
        [" still orange", "rgb(255, 135, 0)", transparent, "400"],
        ["true on blue", "rgb(10, 200, 30)", "rgb(36, 114, 200)", "400"],
        ["bright", "rgb(35, 209, 139)", transparent, "400"],
    ]
    message = "red plain bold orange still orange true on blue bright end"
    await expect(row.locator(".msg")).to_have_text(message)

    await expect(row.locator("time")).to_have_text("2026-12-01 23:30:00.123456789Z")
    await page.get_by_label("Time zone").select_option("local")
    await expect(row.locator("time")).to_have_text("2026-12-02 00:30:00.123456789+01:00")

    await row.get_by_role("button", name="Show fields").click()
    fields = page.get_by_label("Fields", exact=True)
    await expect(fields).to_contain_text('"exit_code": 3')
    await expect(fields).to_contain_text('    "name": "ci-7"')
    await row.get_by_role("button", name="Copy line").click()
    assert await page.evaluate("navigator.clipboard.readText()") == message
    await screenshot(page, "line-features")
    assert await unnamed_controls(page) == []

    long_row = page.locator(".row", has_text="long xxx")
    unwrapped = (await long_row.bounding_box() or {})["height"]
    await page.get_by_role("button", name="Wrap long lines").click()
    await expect(page.get_by_role("button", name="Wrap long lines")).to_have_attribute("aria-pressed", "true")
    wrapped = (await long_row.bounding_box() or {})["height"]
    assert wrapped > 2 * unwrapped
    # a very long line is cut until expanded
    huge_row = page.locator(".row", has_text="huge yyy")
    await expect(huge_row.locator(".cut")).to_have_text(" … 80,000 more characters (expand the line to see them)")
    await huge_row.get_by_role("button", name="Show fields").click()
    await expect(huge_row.locator(".cut")).to_have_count(0)
    assert len(await huge_row.locator(".msg").text_content() or "") == 100_000

    # rows never overlap after the heights changed
    boxes = await page.locator(".lines .row").evaluate_all(
        "rows => rows.map(r => r.getBoundingClientRect()).map(b => [b.top, b.bottom]).sort((a, b) => a[0] - b[0])"
    )
    assert all(upper[1] <= lower[0] + 0.5 for upper, lower in itertools.pairwise(boxes))
