"""Token semantics of GET /api/v1/lines: exact, ordered, stateless, signed and query-bound."""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from logriver.core.timeutil import format_rfc3339_ns
from tests.helpers import auth

BASE = time.time_ns() - 3600 * 1_000_000_000


async def write_stream(api, labels, timestamps_ns, prefix="l"):
    lines = [{"@timestamp": format_rfc3339_ns(t), "message": f"{prefix}{i}"} for i, t in enumerate(timestamps_ns)]
    await api.post_lines({"labels": labels, "lines": lines})
    return [line["message"] for line in lines]


async def follow(api, direction, limit, **params):
    """Walk a whole result set from one end; returns messages in chronological order."""
    token_field = "newer_token" if direction == "newer" else "older_token"
    more_field = "has_more_newer" if direction == "newer" else "has_more_older"
    page = await api.get_lines(limit=limit, from_="head" if direction == "newer" else "tail", **params)
    pages = [page["lines"]]
    while page[more_field]:
        page = await api.get_lines(limit=limit, token_=page[token_field], **params)
        pages.append(page["lines"])
    ordered = pages if direction == "newer" else list(reversed(pages))
    return [line["message"] for p in ordered for line in p], pages


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
async def test_every_line_once_in_order_both_ways_with_collisions(api, limit):
    # 5 distinct timestamps, 4 lines each: many pages consist of one timestamp only.
    stamps = [BASE + (i // 4) * 1000 for i in range(20)]
    expected = await write_stream(api, {"s": "c"}, stamps)
    forward, _ = await follow(api, "newer", limit, labels__s="c")
    backward, _ = await follow(api, "older", limit, labels__s="c")
    assert forward == expected
    assert backward == expected


async def test_one_timestamp_for_all_lines(api):
    expected = await write_stream(api, {"s": "one"}, [BASE] * 25)
    for limit in (1, 4, 25, 30):
        assert (await follow(api, "older", limit, labels__s="one"))[0] == expected


async def test_page_shape_and_flags(api):
    await write_stream(api, {"s": "f"}, [BASE + i for i in range(5)])
    head = await api.get_lines(limit=2, labels__s="f")
    assert [line["message"] for line in head["lines"]] == ["l0", "l1"]
    assert head["has_more_older"] is False and head["has_more_newer"] is True
    line = head["lines"][0]
    assert set(line) >= {"id", "@timestamp", "order_num", "message", "labels", "fields"}
    assert line["@timestamp"] == format_rfc3339_ns(BASE)
    tail = await api.get_lines(limit=2, from_="tail", labels__s="f")
    assert [line["message"] for line in tail["lines"]] == ["l3", "l4"]
    assert tail["has_more_older"] is True and tail["has_more_newer"] is False
    middle = await api.get_lines(limit=1, token_=tail["older_token"], labels__s="f")
    assert middle["lines"][0]["message"] == "l2"
    assert middle["has_more_older"] is True and middle["has_more_newer"] is True


async def test_mixed_directions_return_to_the_same_lines(api):
    await write_stream(api, {"s": "m"}, [BASE + i for i in range(10)])
    tail = await api.get_lines(limit=3, from_="tail", labels__s="m")
    older = await api.get_lines(limit=3, token_=tail["older_token"], labels__s="m")
    back = await api.get_lines(limit=3, token_=older["newer_token"], labels__s="m")
    assert [line["message"] for line in back["lines"]] == [line["message"] for line in tail["lines"]]


async def test_empty_page_past_the_end_turns_back_exactly(api):
    await write_stream(api, {"s": "e"}, [BASE + i for i in range(4)])
    head = await api.get_lines(limit=4, labels__s="e")
    beyond = await api.get_lines(limit=4, token_=head["older_token"], labels__s="e")
    assert beyond["lines"] == [] and beyond["has_more_older"] is False and beyond["has_more_newer"] is True
    again = await api.get_lines(limit=10, token_=beyond["newer_token"], labels__s="e")
    assert [line["message"] for line in again["lines"]] == ["l0", "l1", "l2", "l3"]


async def test_polling_follow_returns_only_new_lines(api):
    await write_stream(api, {"s": "p"}, [BASE + i for i in range(3)])
    tail = await api.get_lines(limit=10, from_="tail", labels__s="p")
    quiet = await api.get_lines(limit=10, token_=tail["newer_token"], labels__s="p")
    assert quiet["lines"] == [] and quiet["has_more_newer"] is False
    await write_stream(api, {"s": "p"}, [BASE + 10, BASE + 10, BASE + 11], prefix="new")
    fresh = await api.get_lines(limit=10, token_=quiet["newer_token"], labels__s="p")
    assert [line["message"] for line in fresh["lines"]] == ["new0", "new1", "new2"]
    nothing = await api.get_lines(limit=10, token_=fresh["newer_token"], labels__s="p")
    assert nothing["lines"] == []


async def test_polling_from_an_empty_stream(api):
    empty = await api.get_lines(limit=10, from_="tail", labels__s="later")
    assert empty["lines"] == [] and not empty["has_more_older"] and not empty["has_more_newer"]
    await write_stream(api, {"s": "later"}, [BASE, BASE + 1])
    page = await api.get_lines(limit=10, token_=empty["newer_token"], labels__s="later")
    assert [line["message"] for line in page["lines"]] == ["l0", "l1"]


async def test_window_start_inclusive_end_exclusive(api):
    await write_stream(api, {"s": "w"}, [BASE + i * 1_000_000 for i in range(5)])
    page = await api.get_lines(
        labels__s="w", start=format_rfc3339_ns(BASE + 1_000_000), end=format_rfc3339_ns(BASE + 3_000_000)
    )
    assert [line["message"] for line in page["lines"]] == ["l1", "l2"]
    by_ms = await api.get_lines(
        labels__s="w", start=(BASE + 1_000_000) // 1_000_000, end=(BASE + 3_000_000) // 1_000_000
    )
    assert [line["message"] for line in by_ms["lines"]] == ["l1", "l2"]
    backward = await follow(
        api,
        "older",
        1,
        labels__s="w",
        start=format_rfc3339_ns(BASE + 1_000_000),
        end=format_rfc3339_ns(BASE + 3_000_000),
    )
    assert backward[0] == ["l1", "l2"]


async def test_text_filter(api):
    await api.post_lines(
        {
            "labels": {"s": "q"},
            "lines": [
                {"@timestamp": format_rfc3339_ns(BASE), "message": "disk full on node-1"},
                {"@timestamp": format_rfc3339_ns(BASE + 1), "message": "all good"},
                {"@timestamp": format_rfc3339_ns(BASE + 2), "message": "disk ok"},
            ],
        }
    )
    page = await api.get_lines(labels__s="q", q='disk AND NOT "disk ok"')
    assert [line["message"] for line in page["lines"]] == ["disk full on node-1"]


def tamper(token: str) -> str:
    payload, signature = token.split(".")
    data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["k"][0] = str(int(data["k"][0]) + 1)
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode() + "." + signature


async def test_tokens_are_signed_and_bound_to_the_query(api):
    await write_stream(api, {"s": "t", "x": "1"}, [BASE + i for i in range(4)])
    page = await api.get_lines(limit=2, labels__s="t")
    for bad in (tamper(page["newer_token"]), "garbage", page["newer_token"][:-3] + "AAA"):
        error = await api.get_lines(token_=bad, labels__s="t", expect=400)
        assert error["error"]["type"] == "invalid_token"
    other_filters = await api.get_lines(token_=page["newer_token"], labels__s="t", labels__x="1", expect=400)
    assert "different query" in other_filters["error"]["message"]
    assert (await api.get_lines(token_=page["newer_token"], labels__s="t", q="l1", expect=400))["error"][
        "type"
    ] == "invalid_token"
    response = await api.http.get(
        "/api/v1/lines", params={"labels.s": "t", "token": page["newer_token"]}, headers=auth("admin-other")
    )
    assert response.status == 400


async def test_token_timestamps_are_strings(api):
    await write_stream(api, {"s": "str"}, [BASE])
    token = (await api.get_lines(labels__s="str"))["newer_token"]
    payload = orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert isinstance(payload["k"][0], str) and payload["v"] == 1


@pytest.mark.parametrize(
    "params,field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10001}, "limit"),
        ({"from_": "middle"}, "from"),
        ({"start": "yesterday"}, "start"),
        ({"q": "(a"}, None),
    ],
)
async def test_bad_parameters_are_named(api, params, field):
    error = (await api.get_lines(expect=400, **params))["error"]
    if field:
        assert field in error["details"]["parameters"]
    else:
        assert error["type"] == "invalid_query"


async def test_start_after_end_is_rejected(api):
    error = await api.get_lines(expect=400, start=format_rfc3339_ns(BASE + 10), end=format_rfc3339_ns(BASE))
    assert "start must be before end" in error["error"]["message"]


async def test_windows_beyond_storable_dates_are_clamped(api):
    await write_stream(api, {"s": "clamp"}, [BASE])
    page = await api.get_lines(labels__s="clamp", start="1900-01-01T00:00:00Z", end="2999-01-01T00:00:00Z")
    assert [line["message"] for line in page["lines"]] == ["l0"]
    assert (await api.get_lines(labels__s="clamp", end="1960-01-01T00:00:00Z"))["lines"] == []
