"""A 50,000-line stream scrolled end to end both ways: every line once, in order, few DOM rows."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.viewer.conftest import screenshot, signed_in
from tests.viewer.writer import numbered, stream_id, write_lines

LINES = 50_000
MAX_DOM_ROWS = 250  # a screen of rows plus overscan; a list that kept its rows would reach thousands
SCROLL = (Path(__file__).parent / "scrolling.js").read_text()
# Scrolls near the top so that older lines load above, and reports where a line in view was on
# screen before and after they were inserted.
ANCHOR = """async () => {
  const list = document.querySelector('.lines');
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  list.scrollTop = 200;
  await frame();
  await frame();
  const row = [...list.querySelectorAll('.row[data-id]')].find(r => r.getBoundingClientRect().top > 300);
  const before = [row.querySelector('.msg').textContent, row.getBoundingClientRect().top, list.scrollTop];
  for (let i = 0; i < 3000 && list.getAttribute('aria-busy') === 'true'; i++) await frame();
  await frame();
  const same = list.querySelector(`.row[data-id="${row.dataset.id}"]`);
  return {before, after: [same.querySelector('.msg').textContent, same.getBoundingClientRect().top, list.scrollTop]};
}"""


def collect(snapshots: list[list[int]], descending: bool) -> list[int]:
    """Join the snapshots in scroll order; each must be a run of consecutive lines."""
    collected: list[int] = []
    for rows in snapshots:
        assert rows, "a step showed no rows"
        assert len(rows) <= MAX_DOM_ROWS, f"{len(rows)} rows in the DOM"
        assert rows == list(range(rows[0], rows[0] + len(rows))), f"rows not consecutive: {rows}"
        fresh = [
            n
            for n in (reversed(rows) if descending else rows)
            if not collected or (n < collected[-1] if descending else n > collected[-1])
        ]
        collected.extend(fresh)
    return collected


async def test_scroll_from_newest_to_first_and_back(serve, page):
    url = await serve()
    labels = {"job": "big"}
    await write_lines(url, labels, numbered(LINES))
    sid = await stream_id(url, labels)
    await page.set_viewport_size({"width": 1280, "height": 2400})
    await signed_in(page, url, hash_path=f"#/stream/{sid}")
    await expect(page.locator(".row .msg", has_text="line 049999")).to_be_visible()
    await screenshot(page, "stream-newest")

    anchored = await page.evaluate(ANCHOR)
    assert anchored["after"][2] > anchored["before"][2] + 5000, "no older page was inserted above"
    assert abs(anchored["after"][1] - anchored["before"][1]) < 1, f"the line moved on screen: {anchored}"
    await page.keyboard.press("End")
    await expect(page.locator(".row .msg", has_text="line 049999")).to_be_in_viewport()

    up = await page.evaluate(SCROLL, "up")
    seen_up = collect(up, descending=True)
    assert up[0][-1] == LINES - 1, "the view did not open at the newest line"
    assert seen_up == list(range(LINES - 1, -1, -1))
    await expect(page.locator(".row .msg", has_text="line 000000")).to_be_visible()
    await screenshot(page, "stream-oldest")

    down = await page.evaluate(SCROLL, "down")
    assert collect(down, descending=False) == list(range(LINES))
    assert max(len(rows) for rows in up + down) <= MAX_DOM_ROWS
