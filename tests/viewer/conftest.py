"""Real-browser fixtures: the real app on a real port, headless Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from logriver.app import SERVER_OPTIONS, create_app
from logriver.core.settings import Settings
from logriver.openapi import build_spec
from logriver.viewer.calls import match_call

CHROMIUM = os.environ.get("LOGRIVER_CHROMIUM", "/usr/bin/chromium")
INSTALL_HINT = "apt-get update && apt-get install -y --no-install-recommends chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"

AppHook = Callable[[web.Application], None]
Serve = Callable[..., Awaitable[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
async def serve(es, settings: Settings, token_store, es_url: str) -> AsyncIterator[Serve]:
    """Start the real app on an ephemeral port; returns its base URL."""
    runners: list[web.AppRunner] = []

    async def start(custom: Settings | None = None, hook: AppHook | None = None, storage_url: str | None = None) -> str:
        app = create_app(custom or settings, token_store, storage_url or es_url)
        if hook is not None:
            hook(app)
        runner = web.AppRunner(app, shutdown_timeout=2, **SERVER_OPTIONS)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        if storage_url is None:
            await _wait_ready(app)
        return url

    yield start
    for runner in runners:
        await runner.cleanup()


async def _wait_ready(app: web.Application) -> None:
    from logriver.services import SERVICES

    for _ in range(300):
        if app[SERVICES].storage.ready:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("storage did not become ready")


def chromium_missing() -> bool:
    return not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if chromium_missing():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}; install it with: {INSTALL_HINT}")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


def described_parameters() -> dict[tuple[str, str], set[str]]:
    """(method, path template) -> the query parameters the OpenAPI description names."""
    return {
        (method.upper(), path): {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        for path, operations in build_spec()["paths"].items()
        for method, operation in operations.items()
    }


class PageLog:
    """What the page did that the test did not ask for: API calls made and script errors."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.parameters: list[tuple[str, str, str]] = []  # method, path, query parameter name
        self.errors: list[str] = []

    def undeclared_calls(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if match_call(*call) is None]

    def undescribed_parameters(self) -> list[tuple[str, str, str]]:
        """Parameters the viewer sent that the OpenAPI description does not name for that call.

        `labels.<key>` is open-ended: it is allowed where the call takes the line filters.
        """
        described = described_parameters()
        found = []
        for method, path, name in self.parameters:
            call = match_call(method, path)
            if call is None:
                continue
            names = described.get(call, set())
            if name not in names and not (name.startswith("labels.") and "stream_id" in names):
                found.append((method, path, name))
        return found


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh tab; at the end, every API call it made must be a declared viewer call."""
    # A fixed zone with an offset makes "local time" checkable; clipboard access for "Copy line".
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Europe/Paris")
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab = await context.new_page()
    log = PageLog()
    tab.on("pageerror", lambda error: log.errors.append(str(error)))

    def record(request) -> None:  # type: ignore[no-untyped-def]
        path = urlsplit(request.url).path
        if path.startswith("/api/"):
            log.calls.append((request.method, path))
            query = urlsplit(request.url).query
            log.parameters.extend((request.method, path, name) for name, _ in parse_qsl(query, keep_blank_values=True))

    tab.on("request", record)
    tab.log = log  # type: ignore[attr-defined]
    yield tab
    await context.close()
    assert not log.errors, f"script errors in the page: {log.errors}"
    assert not log.undeclared_calls(), f"calls missing from VIEWER_API_CALLS: {log.undeclared_calls()}"
    assert not log.undescribed_parameters(), f"parameters the OpenAPI lacks: {log.undescribed_parameters()}"


async def signed_in(page: Page, url: str, token: str = "read-acme", hash_path: str = "") -> None:
    """Open the viewer as a tab that already holds a token (sign-in itself has its own test)."""
    # try: the script also runs in frames without storage (about:blank after going back)
    await page.add_init_script(f"try {{ sessionStorage.setItem('logriver.token', {token!r}); }} catch {{}}")
    await page.goto(f"{url}/{hash_path}")


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


# Every control's accessible name, roughly as assistive technology computes it.
UNNAMED = """() => [...document.querySelectorAll('button, input, select, a[href], svg[role]')]
  .filter(el => !(el.getAttribute('aria-label') || el.textContent.trim() || (el.labels && el.labels.length)))
  .map(el => el.outerHTML.slice(0, 120))"""


async def unnamed_controls(page: Page) -> list[str]:
    return list(await page.evaluate(UNNAMED))
