"""The page and its modules come from the installed package, with a strict content policy."""

from __future__ import annotations


async def test_the_viewer_page_and_modules_are_served(api):
    page = await api.http.get("/")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<script type="module" src="/viewer/js/main.js">' in await page.text()
    module = await api.http.get("/viewer/js/main.js")
    assert module.status == 200
    assert "javascript" in module.content_type
