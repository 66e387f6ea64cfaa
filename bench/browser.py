"""The viewer in headless Chromium: first lines on screen, frames while scrolling, JS heap after 1M lines.

The service is the real `logriver serve` in its own process; Chromium is Debian's, driven by
Playwright. One stream of `--browser-lines` lines is written through the API, then the page
opens it at its newest line and scrolls towards the oldest.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from playwright.async_api import Page, async_playwright

from bench.cluster import Cluster
from bench.server import ServerProcess
from logriver.core.timeutil import format_rfc3339_ns

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LABELS = {"job": "browser-bench"}
BATCH = 10_000
OPENINGS = 5
SCROLL_PAGES = 100  # API pages of the viewer (500 lines each)
VIEWER_PAGE_LINES = 500
LONG_FRAME_MS = 50.0

FIRST_ROW_PROBE = """
new MutationObserver((changes, observer) => {
  if (document.querySelector('.row[data-id]')) {
    requestAnimationFrame(() => { window.__firstRowMs = performance.now(); });
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""

# Scrolls up `lines` lines' worth, `step` px per frame, waiting at the top while a page loads;
# returns per-frame intervals and how many frames waited for data.
SCROLL = """
async ([lines, step]) => {
  const list = document.querySelector('.lines');
  const frames = [];
  let waited = 0, travelled = 0, idle = 0, last = performance.now();
  while (travelled < lines * 20 && idle < 120) {
    const before = list.scrollTop;
    list.scrollTop = before - step;
    const moved = before - list.scrollTop;
    travelled += moved;
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = performance.now();
    frames.push(now - last);
    last = now;
    if (moved === 0) {
      waited += 1;
      idle = list.getAttribute('aria-busy') === 'true' ? 0 : idle + 1;  // 2 s idle at the top: the oldest line
    } else {
      idle = 0;
    }
  }
  return {frames, waited, travelled: travelled / 20};
}
"""


@dataclass
class BrowserFigures:
    lines: int
    write_seconds: float
    first_lines_ms: list[float] = field(default_factory=list)
    scroll: dict[str, Any] = field(default_factory=dict)
    heap: list[tuple[int, float, int]] = field(default_factory=list)  # (lines scrolled, MiB, DOM rows)
    heap_start_mib: float = 0.0


def _lines(start: int, count: int, base_ns: int) -> list[dict[str, Any]]:
    colours = ("\x1b[32mINFO\x1b[0m", "\x1b[33mWARN\x1b[0m", "\x1b[1;31mERROR\x1b[0m")
    return [
        {
            "@timestamp": format_rfc3339_ns(base_ns + (start + i) * 1_000_000),
            "message": f"{colours[(start + i) % 3]} request {start + i} GET /api/v2/orders/"
            f"{(start + i) * 7919 % 100000} 200 {((start + i) * 31) % 900}ms",
        }
        for i in range(count)
    ]


async def _write(server: ServerProcess, total: int) -> float:
    base = time.time_ns() - (total + 60_000) * 1_000_000
    started = time.monotonic()
    async with aiohttp.ClientSession(headers=server.headers, timeout=aiohttp.ClientTimeout(total=600)) as session:
        queue = list(range(0, total, BATCH))

        async def worker() -> None:
            while queue:
                at = queue.pop(0)
                body = {"labels": LABELS, "lines": _lines(at, min(BATCH, total - at), base)}
                async with session.post(f"{server.url}/api/v1/lines", json=body) as response:
                    result = await response.json()
                    if response.status != 200 or result["rejected"]:
                        raise RuntimeError(f"write failed: {response.status} {str(result)[:300]}")

        await asyncio.gather(worker(), worker())
        async with session.post(f"{server.url}/api/v1/lines", params={"refresh": "wait_for"}, json=[]) as response:
            await response.read()
    return time.monotonic() - started


async def _stream_id(server: ServerProcess) -> str:
    async with (
        aiohttp.ClientSession(headers=server.headers) as session,
        session.get(f"{server.url}/api/v1/streams", params={"labels.job": LABELS["job"]}) as response,
    ):
        return str((await response.json())["streams"][0]["id"])


async def _heap_mib(page: Page) -> tuple[float, int]:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("HeapProfiler.collectGarbage")
    used = (await cdp.send("Runtime.getHeapUsage"))["usedSize"]
    await cdp.detach()
    rows = await page.evaluate("document.querySelectorAll('.lines .row').length")
    return used / (1024 * 1024), int(rows)


async def _first_row_ms(page: Page) -> float:
    # Polled from here: the page's content policy forbids the string evaluation wait_for_function uses.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await page.evaluate("window.__firstRowMs")
        if found is not None:
            return float(found)
        await asyncio.sleep(0.01)
    raise RuntimeError("the stream's first lines did not appear within 60 s")


async def _measure_page(page: Page, url: str, sid: str, figures: BrowserFigures) -> None:
    for _ in range(OPENINGS):
        await page.goto(f"{url}/#/stream/{sid}")
        figures.first_lines_ms.append(await _first_row_ms(page))
        await page.goto("about:blank")
    await page.goto(f"{url}/#/stream/{sid}")
    await page.wait_for_selector(".row[data-id]")
    figures.heap_start_mib, _ = await _heap_mib(page)
    figures.scroll = await page.evaluate(SCROLL, [SCROLL_PAGES * VIEWER_PAGE_LINES, 600])
    done = int(figures.scroll["travelled"])
    chunk = max(50_000, figures.lines // 10)
    while done < figures.lines - 1000:
        moved = await page.evaluate(SCROLL, [min(chunk, figures.lines - done), 6000])
        done += int(moved["travelled"])
        figures.heap.append((done, *await _heap_mib(page)))
        if moved["travelled"] < 100:
            break


async def measure_browser(cluster: Cluster, es_url: str, lines: int) -> BrowserFigures:
    """Write the stream, then time the page; every index the run created is deleted at the end."""
    prefix = f"lrbench-{secrets.token_hex(4)}-browser"
    try:
        async with ServerProcess(es_url, prefix) as server:
            figures = BrowserFigures(lines, await _write(server, lines))
            sid = await _stream_id(server)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                await context.add_init_script(
                    f"try {{ sessionStorage.setItem('logriver.token', {server.token!r}); }} catch {{}}"
                )
                await context.add_init_script(FIRST_ROW_PROBE)
                await _measure_page(await context.new_page(), server.url, sid, figures)
                await browser.close()
            return figures
    finally:
        await cluster.delete_prefix(prefix)


def browser_lines(figures: BrowserFigures) -> list[str]:
    first = figures.first_lines_ms
    frames = figures.scroll.get("frames", [])
    long = [f for f in frames if f > LONG_FRAME_MS]
    out = [
        f"browser: one stream of {figures.lines} lines (written through the API in {figures.write_seconds:.1f} s), "
        "headless Chromium 1280x800",
        f"  open stream -> first lines on screen: median {statistics.median(first):.0f} ms, "
        f"min {min(first):.0f}, max {max(first):.0f} ({len(first)} openings)",
    ]
    if frames:
        seconds = sum(frames) / 1000
        out.append(
            f"  scroll {SCROLL_PAGES} pages ({figures.scroll['travelled']:.0f} lines, 600 px per frame): "
            f"{len(frames)} frames in {seconds:.1f} s ({len(frames) / seconds:.0f} fps), "
            f"{len(long)} long frames (> {LONG_FRAME_MS:.0f} ms), worst {max(frames):.0f} ms, "
            f"p95 {statistics.quantiles(frames, n=20)[-1]:.0f} ms, {figures.scroll['waited']} frames waited for a page"
        )
    out.append(f"  JS heap after opening: {figures.heap_start_mib:.1f} MiB")
    for scrolled, mib, rows in figures.heap:
        out.append(f"  JS heap after scrolling {scrolled:>8} lines: {mib:6.1f} MiB, {rows} rows in the DOM")
    return out
