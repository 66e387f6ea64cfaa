"""Sign-in, the streams list, and errors shown instead of a blank page."""

from __future__ import annotations

import dataclasses
import re
import socket

from playwright.async_api import expect

from tests.viewer.conftest import screenshot, signed_in, unnamed_controls
from tests.viewer.writer import numbered, write_lines


async def test_sign_in_rejects_a_bad_token_then_lists_streams(serve, page):
    url = await serve()
    await write_lines(url, {"job": "build-1", "stream": "stdout"}, numbered(3))
    await write_lines(url, {"job": "deploy-2"}, numbered(5))
    await page.goto(url + "/")
    token = page.get_by_label("Token")
    await expect(token).to_be_focused()
    await screenshot(page, "sign-in")

    await token.fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("This token was not accepted (unknown token)")

    await token.fill("write-acme")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("lacks the 'read' role")

    await token.fill("read-acme")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("status")).to_have_text("2 streams")
    build = page.locator("tr", has_text="job=build-1")
    await expect(build).to_contain_text("stream=stdout")
    await expect(build.locator(".count")).to_have_text("3")
    await expect(build.locator("td.ts")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}Z$"))
    await screenshot(page, "streams")
    assert await unnamed_controls(page) == []

    await page.get_by_label("Filter streams").fill("job=deploy-2")
    await page.get_by_role("button", name="Apply filter").click()
    await expect(page.get_by_role("status")).to_have_text("1 stream")
    await expect(page).to_have_url(f"{url}/#/streams?filter=job%3Ddeploy-2")
    await page.go_back()
    await expect(page.get_by_role("status")).to_have_text("2 streams")

    await page.get_by_role("link", name="Open stream deploy-2").click()
    await expect(page.locator(".row[data-id]")).to_have_count(5)
    # the token stays for the tab: a reload does not ask again
    await page.reload()
    await expect(page.locator(".row[data-id]")).to_have_count(5)


async def test_storage_down_is_shown_with_a_retry(serve, page, settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = dataclasses.replace(settings, es_timeout_seconds=2.0)
    url = await serve(down, storage_url=f"http://127.0.0.1:{port}")
    await signed_in(page, url)
    banner = page.get_by_role("alert")
    await expect(banner).to_contain_text("503 storage unavailable")
    await expect(banner).to_contain_text("retrying in 5 s")
    await screenshot(page, "storage-down")
    await page.get_by_role("button", name="Retry").click()
    await expect(banner).to_contain_text("503 storage unavailable")
