"""The access log: one line per request with what aiohttp's default line told, from the real server."""

from __future__ import annotations

import logging
import re

import pytest

ACCESS = "aiohttp.access"


async def test_each_answer_is_one_access_line_with_its_request_and_outcome(make_api, caplog: pytest.LogCaptureFixture):
    # Before the server's first connection: aiohttp asks once per connection whether to log.
    caplog.set_level(logging.INFO, logger=ACCESS)
    api = await make_api()
    caplog.clear()
    headers = {"User-Agent": "probe/1.0", "Referer": "http://example.test/from"}
    ok = await api.http.get("/healthz?x=1&y=%20", headers=headers)
    missing = await api.http.get("/api/v1/no-such-route")
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS]
    assert len(lines) == 2, lines
    first = re.fullmatch(
        r'127\.0\.0\.1 "GET /healthz\?x=1&y=%20 HTTP/1\.1" 200 (\d+) "http://example\.test/from" "probe/1\.0" '
        r"\d+\.\d{6}",
        lines[0],
    )
    assert first, lines[0]
    second = re.fullmatch(
        r'127\.0\.0\.1 "GET /api/v1/no-such-route HTTP/1\.1" 404 (\d+) "-" "[^"]+" \d+\.\d{6}', lines[1]
    )
    assert second, lines[1]
    # The bytes sent, headers included (as aiohttp's own %b).
    assert int(first[1]) > len(await ok.read()) > 0
    assert int(second[1]) > len(await missing.read()) > 0
