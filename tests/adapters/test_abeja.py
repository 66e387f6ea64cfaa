"""ABEJA Run API logs over HTTP against the real Elasticsearch."""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from logriver.adapters.abeja import ABEJA_PREFIX, abeja_error_response
from logriver.core.errors import (
    ForbiddenError,
    InvalidTokenError,
    LogriverError,
    NotFoundError,
    OverloadedError,
    StorageTimeoutError,
    StorageUnavailableError,
    UnauthorizedError,
    ValidationError,
)
from logriver.core.timeutil import NS_PER_SECOND, format_rfc3339_ns
from tests.helpers import auth

RUN = {"organization_id": "acme", "deployment_id": "1111111111111", "run_id": "run-3333333333333333"}


def run_path(kind: str, run_id: str = RUN["run_id"], organization_id: str = "acme") -> str:
    return f"/organizations/{organization_id}/deployments/{RUN['deployment_id']}/runs/{run_id}/{kind}"


def base_second() -> int:
    """A whole second, in nanoseconds, a few minutes ago: room for lines written 'later'."""
    return (time.time_ns() // NS_PER_SECOND - 300) * NS_PER_SECOND


def utc_text(ns: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS`, the zone-less form ABEJA clients send."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // NS_PER_SECOND))


async def write_run(api, lines: list[tuple[str, int]], run_id: str = RUN["run_id"]) -> None:
    """Write (message, timestamp ns) lines to the run's stream through the native API."""
    body = {
        "labels": {**RUN, "run_id": run_id},
        "lines": [{"@timestamp": format_rfc3339_ns(at), "message": message} for message, at in lines],
    }
    assert (await api.post_lines(body))["accepted"] == len(lines)


async def write_numbered(api, count: int, base: int, first: int = 0) -> None:
    """Lines `line i`, one millisecond apart from `base`."""
    await write_run(api, [(f"line {i}", base + i * 1_000_000) for i in range(first, first + count)])


async def get_run(
    api, kind: str, expect: int = 200, headers: dict[str, str] | None = None, path: str | None = None, **params: Any
) -> dict[str, Any]:
    response = await api.http.get(
        path or run_path(kind),
        params={k: str(v) for k, v in params.items()},
        headers=auth("read-acme") if headers is None else headers,
    )
    assert response.status == expect, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    if expect >= 400:
        assert set(body) == {"error", "error_description"}, body
    return body


def messages(body: dict[str, Any]) -> list[str]:
    return [event["message"] for event in body["events"]]


async def follow_logs(api, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every /logs page from the first until one comes without next_token."""
    pages = [await get_run(api, "logs", limit=limit, **params)]
    while "next_token" in pages[-1]:
        pages.append(await get_run(api, "logs", limit=limit, next_token=pages[-1]["next_token"], **params))
    return pages


async def test_logs_are_oldest_first_with_microsecond_timestamps(api):
    base = base_second()
    await write_run(
        api,
        [
            ("second", base + 2_123_456_789),
            ("first", base + 5_000),
            ("third", base + 3 * NS_PER_SECOND),
        ],
    )
    body = await get_run(api, "logs")
    assert body == {
        "events": [
            {"message": "first", "timestamp": utc_text(base) + ".000005Z"},
            {"message": "second", "timestamp": utc_text(base + 2 * NS_PER_SECOND) + ".123456Z"},
            {"message": "third", "timestamp": utc_text(base + 3 * NS_PER_SECOND) + ".000000Z"},
        ]
    }


async def test_next_token_is_present_exactly_when_more_lines_follow(api):
    base = base_second()
    await write_numbered(api, 5, base)
    pages = await follow_logs(api, 2)
    assert [messages(page) for page in pages] == [["line 0", "line 1"], ["line 2", "line 3"], ["line 4"]]
    await write_numbered(api, 1, base, first=5)
    pages = await follow_logs(api, 2)
    assert [len(page["events"]) for page in pages] == [2, 2, 2]  # the last full page has no next_token
    assert "next_token" not in pages[-1]


async def test_default_page_size_is_the_setting(make_api, settings):
    api = await make_api(replace(settings, abeja_page_size=3))
    await write_numbered(api, 4, base_second())
    body = await get_run(api, "logs")
    assert messages(body) == ["line 0", "line 1", "line 2"]
    assert "next_token" in body
    assert len((await get_run(api, "recentlogs"))["events"]) == 3


async def test_default_page_size_is_100(api):
    await write_numbered(api, 101, base_second())
    body = await get_run(api, "logs")
    assert len(body["events"]) == 100 and "next_token" in body


async def test_empty_next_token_means_none(api):
    await write_numbered(api, 3, base_second())
    body = await get_run(api, "logs", next_token="")
    assert messages(body) == ["line 0", "line 1", "line 2"]


async def test_window_bounds_are_inclusive_in_both_forms(api):
    base = base_second()
    await write_run(
        api,
        [
            ("before", base - 1),
            ("at start", base),
            ("middle", base + NS_PER_SECOND + 500_000_000),
            ("end second", base + 2 * NS_PER_SECOND + 999_999_999),
            ("after", base + 3 * NS_PER_SECOND),
        ],
    )
    plus_nine = time.strftime("%Y-%m-%dT%H:%M:%S+09:00", time.gmtime(base // NS_PER_SECOND + 2 + 9 * 3600))
    body = await get_run(api, "logs", start_time=utc_text(base), end_time=plus_nine)
    assert messages(body) == ["at start", "middle", "end second"]
    body = await get_run(api, "recentlogs", start_time=utc_text(base), end_time=utc_text(base + 2 * NS_PER_SECOND))
    assert messages(body) == ["end second", "middle", "at start"]
    exact = format_rfc3339_ns(base + NS_PER_SECOND + 500_000_000)
    assert messages(await get_run(api, "logs", start_time=exact, end_time=exact)) == ["middle"]


async def test_an_event_timestamp_works_as_an_inclusive_bound(api):
    base = base_second()
    await write_run(api, [("a", base + 1_000_999), ("b", base + 1_001_000), ("c", base + 1_002_500)])
    b_time = (await get_run(api, "logs"))["events"][1]["timestamp"]
    assert messages(await get_run(api, "logs", start_time=b_time, end_time=b_time)) == ["b"]
    assert messages(await get_run(api, "logs", end_time=b_time)) == ["a", "b"]


async def test_bounds_beyond_the_storable_range_mean_no_bound(api):
    await write_numbered(api, 2, base_second())
    body = await get_run(api, "logs", start_time="1900-01-01T00:00:00", end_time="9999-12-31T23:59:59Z")
    assert messages(body) == ["line 0", "line 1"]
    assert messages(await get_run(api, "recentlogs", start_time="9000-01-01T00:00:00")) == []
    assert messages(await get_run(api, "recentlogs", end_time="1969-12-31T23:59:59Z")) == []


@pytest.mark.parametrize(
    "params",
    [
        {"start_time": "yesterday"},
        {"end_time": "2024-13-01T00:00:00"},
        {"start_time": "2024-05-01"},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "many"},
        {"start_time": "2024-05-02T00:00:00", "end_time": "2024-05-01T23:59:59Z"},
    ],
)
@pytest.mark.parametrize("kind", ["logs", "recentlogs"])
async def test_bad_parameters_are_400(api, kind, params):
    await write_numbered(api, 1, base_second())
    body = await get_run(api, kind, expect=400, **params)
    assert body["error"] == "bad_request"


@pytest.mark.parametrize("token", ["garbage", "e30.e30", "....", "x" * 300])
async def test_garbage_tokens_are_400(api, token):
    await write_numbered(api, 1, base_second())
    assert (await get_run(api, "logs", expect=400, next_token=token))["error"] == "bad_request"
    assert (await get_run(api, "recentlogs", expect=400, next_forward_token=token))["error"] == "bad_request"
    assert (await get_run(api, "recentlogs", expect=400, next_backward_token=token))["error"] == "bad_request"


async def test_tampered_and_foreign_tokens_are_400(api):
    base = base_second()
    await write_numbered(api, 3, base)
    await write_run(api, [("elsewhere", base)], run_id="run-other")
    token = (await get_run(api, "logs", limit=1))["next_token"]
    payload, signature = token.split(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    await get_run(api, "logs", expect=400, limit=1, next_token=f"{flipped}.{signature}")
    other_run = run_path("logs", run_id="run-other")
    await get_run(api, "logs", expect=400, path=other_run, limit=1, next_token=token)
    # A token is bound to its window too.
    await get_run(api, "logs", expect=400, limit=1, next_token=token, start_time=utc_text(base))


async def test_tokens_are_refused_in_the_other_direction(api):
    await write_numbered(api, 4, base_second())
    forward_page = await get_run(api, "logs", limit=1)
    recent = await get_run(api, "recentlogs", limit=1)
    await get_run(api, "logs", expect=400, next_token=recent["next_backward_token"])
    await get_run(api, "recentlogs", expect=400, next_forward_token=recent["next_backward_token"])
    await get_run(api, "recentlogs", expect=400, next_backward_token=recent["next_forward_token"])
    body = await get_run(api, "recentlogs", next_forward_token=forward_page["next_token"])
    assert messages(body) == ["line 3", "line 2", "line 1"]


async def test_both_recent_tokens_are_400(api):
    await write_numbered(api, 2, base_second())
    recent = await get_run(api, "recentlogs", limit=1)
    body = await get_run(
        api,
        "recentlogs",
        expect=400,
        next_forward_token=recent["next_forward_token"],
        next_backward_token=recent["next_backward_token"],
    )
    assert "not both" in body["error_description"]


async def test_recentlogs_pages_newest_first_and_keeps_working_past_both_ends(api):
    base = base_second()
    await write_numbered(api, 5, base)
    first = await get_run(api, "recentlogs", limit=2)
    assert messages(first) == ["line 4", "line 3"]
    backward, pages = first, []
    for _ in range(4):
        backward = await get_run(api, "recentlogs", limit=2, next_backward_token=backward["next_backward_token"])
        pages.append(messages(backward))
    assert pages == [["line 2", "line 1"], ["line 0"], [], []]
    assert backward["next_backward_token"] and backward["next_forward_token"]

    idle = await get_run(api, "recentlogs", limit=2, next_forward_token=first["next_forward_token"])
    assert messages(idle) == [] and idle["next_forward_token"] and idle["next_backward_token"]
    await write_numbered(api, 3, base, first=5)
    newer = await get_run(api, "recentlogs", limit=2, next_forward_token=idle["next_forward_token"])
    assert messages(newer) == ["line 6", "line 5"]
    rest = await get_run(api, "recentlogs", limit=2, next_forward_token=newer["next_forward_token"])
    assert messages(rest) == ["line 7"]
    done = await get_run(api, "recentlogs", limit=2, next_forward_token=rest["next_forward_token"])
    assert messages(done) == []
    older = await get_run(api, "recentlogs", limit=2, next_backward_token=newer["next_backward_token"])
    assert messages(older) == ["line 4", "line 3"]


async def test_forward_token_of_an_empty_run_returns_lines_written_since(api):
    stream = {"labels": RUN}
    response = await api.http.put("/api/v1/streams", json=stream, headers=auth("write-acme"))
    assert response.status == 201, await response.text()
    empty = await get_run(api, "recentlogs")
    assert empty["events"] == [] and empty["next_forward_token"] and empty["next_backward_token"]
    assert await get_run(api, "logs") == {"events": []}
    await write_numbered(api, 2, base_second())
    body = await get_run(api, "recentlogs", next_forward_token=empty["next_forward_token"])
    assert messages(body) == ["line 1", "line 0"]
    assert messages(await get_run(api, "recentlogs", next_forward_token=body["next_forward_token"])) == []


@pytest.mark.parametrize("kind", ["logs", "recentlogs"])
async def test_unknown_run_is_404(api, kind):
    body = await get_run(api, kind, expect=404, path=run_path(kind, run_id="run-missing"))
    assert body["error"] == "not_found"


@pytest.mark.parametrize("kind", ["logs", "recentlogs"])
async def test_credentials(api, kind):
    await write_numbered(api, 1, base_second())
    body = await get_run(api, kind, expect=401, headers={})
    assert body["error"] == "unauthorized"
    assert (await get_run(api, kind, expect=401, headers=auth("forged")))["error"] == "unauthorized"
    basic = base64.b64encode(b"1234567890123:read-acme").decode()
    assert messages(await get_run(api, kind, headers={"Authorization": f"Basic {basic}"})) == ["line 0"]
    wrong = base64.b64encode(b"1234567890123:forged").decode()
    await get_run(api, kind, expect=401, headers={"Authorization": f"Basic {wrong}"})


@pytest.mark.parametrize("kind", ["logs", "recentlogs"])
async def test_another_organization_or_no_read_role_is_403(api, kind):
    await write_numbered(api, 1, base_second())
    assert (await get_run(api, kind, expect=403, headers=auth("admin-other")))["error"] == "forbidden"
    other_org = run_path(kind, organization_id="other")
    await get_run(api, kind, expect=403, path=other_org)
    await get_run(api, kind, expect=403, headers=auth("write-acme"))


@pytest.mark.parametrize(
    ("error", "status", "short"),
    [
        (ValidationError("invalid parameters"), 400, "bad_request"),
        (InvalidTokenError("the token is malformed"), 400, "bad_request"),
        (UnauthorizedError("no credentials"), 401, "unauthorized"),
        (ForbiddenError("not your organization"), 403, "forbidden"),
        (NotFoundError("no such run"), 404, "not_found"),
        (OverloadedError("busy"), 429, "too_many_requests"),
        (StorageUnavailableError("down"), 503, "service_unavailable"),
        (StorageTimeoutError("slow"), 504, "gateway_timeout"),
        (LogriverError("internal error; quote id abc"), 500, "internal_server_error"),
    ],
)
async def test_every_error_renders_in_the_abeja_envelope(rendered_error, error, status, short):
    response = await rendered_error(ABEJA_PREFIX, abeja_error_response, error, retry_after_seconds=7)
    assert response.status == status
    assert orjson.loads(await response.read()) == {"error": short, "error_description": error.message}
    assert response.headers.get("Retry-After") == ("7" if status in (429, 503, 504) else None)
    assert ("WWW-Authenticate" in response.headers) == (status == 401)


async def test_a_new_run_written_in_several_bulk_calls_is_readable_at_once(make_api, settings):
    """?refresh=wait_for covers the streams registry too when a request takes several bulk calls."""
    import logriver.ingest.writer as writer_module

    api = await make_api(replace(settings, index_refresh_interval="60s"))  # no periodic refresh to hide it

    count = 3000
    assert count * 400 > writer_module.BULK_CHUNK_BYTES  # the writer's estimate: more than one bulk call
    await write_numbered(api, count, base_second())
    body = await get_run(api, "logs", limit=10)
    assert messages(body) == [f"line {i}" for i in range(10)]
