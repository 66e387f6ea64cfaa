"""GET /api/v1/streams: each parameter changes the answer, pages are exact while lines arrive."""

from __future__ import annotations

import time

from logriver.core.indices import load_template
from logriver.core.streams import stream_id
from logriver.core.timeutil import format_rfc3339_ns

BASE = time.time_ns() - 600 * 1_000_000_000


def at(offset_ms: int) -> str:
    return format_rfc3339_ns(BASE + offset_ms * 1_000_000)


async def write(api, labels: dict[str, str], *offsets: int, message: str = "x") -> None:
    lines = [{"@timestamp": at(o), "message": message} for o in offsets]
    await api.post_lines({"labels": labels, "lines": lines})


async def many_streams(api, count: int) -> list[dict[str, str]]:
    """`count` streams of job=many, stream n written at n ms: stream count-1 is the newest."""
    streams = [{"job": "many", "task": f"t{n:03d}"} for n in range(count)]
    batch = [{"labels": labels, "@timestamp": at(n), "message": f"line {n}"} for n, labels in enumerate(streams)]
    await api.post_lines(batch)
    return streams


async def listed(api, **params) -> list[dict]:
    return (await api.get("/api/v1/streams", **params))["streams"]


async def all_pages(api, **params) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    token = None
    while pages < 50:  # a token that never ends fails the test instead of hanging it
        page = await api.get("/api/v1/streams", token_=token, **params)  # token_: the page token
        seen.extend(s["labels"]["task"] for s in page["streams"])
        pages += 1
        token = page["next_token"]
        if token is None:
            break
    return seen, pages


async def test_stream_id_names_the_one_stream(api):
    streams = await many_streams(api, 6)
    everything = await listed(api, labels__job="many")
    wanted = next(s for s in everything if s["labels"] == streams[2])
    only = await listed(api, stream_id=wanted["id"])
    assert [s["id"] for s in only] == [wanted["id"]]
    assert only[0]["labels"] == streams[2]


async def test_q_lists_the_streams_with_matching_lines_and_counts_them(api):
    await write(api, {"job": "q", "part": "a"}, 1, 2, message="alpha here")
    await write(api, {"job": "q", "part": "b"}, 3, message="beta only")
    found = await listed(api, labels__job="q", q="alpha")
    assert [(s["labels"]["part"], s["lines"]) for s in found] == [("a", 2)]


async def test_labels_filter_exactly(api):
    await write(api, {"job": "l", "part": "a"}, 1)
    await write(api, {"job": "l", "part": "b"}, 2)
    assert [s["labels"]["part"] for s in await listed(api, labels__job="l", labels__part="b")] == ["b"]


async def test_window_lists_streams_with_lines_in_it(api):
    await write(api, {"job": "w", "part": "early"}, 1)
    await write(api, {"job": "w", "part": "late"}, 500)
    assert [s["labels"]["part"] for s in await listed(api, labels__job="w", start=at(100))] == ["late"]
    assert [s["labels"]["part"] for s in await listed(api, labels__job="w", end=at(100))] == ["early"]


async def test_default_order_is_newest_line_first(api):
    await write(api, {"job": "o", "name": "b-old"}, 1)
    await write(api, {"job": "o", "name": "a-new"}, 50)
    await write(api, {"job": "o", "name": "c-mid"}, 20)
    assert [s["labels"]["name"] for s in await listed(api, labels__job="o")] == ["a-new", "c-mid", "b-old"]
    await write(api, {"job": "o", "name": "b-old"}, 90)  # new activity moves it to the front
    assert [s["labels"]["name"] for s in await listed(api, labels__job="o")] == ["b-old", "a-new", "c-mid"]


async def test_sort_labels_orders_by_labels(api):
    for offset, name in enumerate(["b", "c", "a"]):
        await write(api, {"job": "s", "name": name}, offset)
    assert [s["labels"]["name"] for s in await listed(api, labels__job="s", sort="labels")] == ["a", "b", "c"]
    assert [s["labels"]["name"] for s in await listed(api, labels__job="s")] == ["a", "c", "b"]


async def test_match_finds_a_stream_by_part_of_a_label_value(api):
    await write(api, {"job": "m", "exe": "job-4408808287969950"}, 1)
    await write(api, {"job": "m", "exe": "job-1234"}, 2)
    found = await listed(api, labels__job="m", match="8082879")
    assert [s["labels"]["exe"] for s in found] == ["job-4408808287969950"]
    assert [s["labels"]["exe"] for s in await listed(api, labels__job="m", match="JOB-12")] == ["job-1234"]
    assert await listed(api, labels__job="m", match="*") == []  # a wildcard character is a character


async def test_limit_pages_and_next_token_ends_with_null(api):
    await many_streams(api, 7)
    first = await api.get("/api/v1/streams", labels__job="many", limit=3)
    assert len(first["streams"]) == 3 and first["next_token"]
    seen, pages = await all_pages(api, labels__job="many", limit=3)
    assert sorted(seen) == [f"t{n:03d}" for n in range(7)] and len(seen) == 7
    assert seen == [f"t{n:03d}" for n in reversed(range(7))] and pages == 3


async def test_limit_beyond_1000_is_refused_naming_it(api):
    error = (await api.get("/api/v1/streams", limit=1001, expect=400))["error"]
    assert "limit" in error["message"] and "1000" in error["message"]


async def test_token_is_bound_to_its_listing(api):
    await many_streams(api, 4)
    token = (await api.get("/api/v1/streams", labels__job="many", limit=2))["next_token"]
    error = (await api.get("/api/v1/streams", labels__job="other", limit=2, token_=token, expect=400))["error"]
    assert error["type"] == "invalid_token"
    bad = (await api.get("/api/v1/streams", token_="not-a-token", expect=400))["error"]
    assert bad["type"] == "invalid_token"


async def test_every_stream_once_while_lines_arrive(api):
    streams = await many_streams(api, 12)
    token = None
    seen: list[str] = []
    for page_number in range(20):
        page = await api.get("/api/v1/streams", labels__job="many", limit=4, token_=token)
        seen.extend(s["labels"]["task"] for s in page["streams"])
        # The oldest streams, not yet listed, become the newest: without a frozen view they
        # would jump over the reader's position and never be seen.
        for labels in streams[page_number * 2 : page_number * 2 + 2]:
            await write(api, labels, 10_000 + page_number)
        await write(api, {"job": "many", "task": f"new{page_number}"}, 20_000 + page_number)
        token = page["next_token"]
        if token is None:
            break
    assert sorted(seen) == [f"t{n:03d}" for n in range(12)]


async def test_late_lines_do_not_move_a_stream_down(api):
    await write(api, {"job": "late", "name": "a"}, 100)
    await write(api, {"job": "late", "name": "b"}, 50)
    await write(api, {"job": "late", "name": "a"}, 1)  # a line older than a's newest
    assert [s["labels"]["name"] for s in await listed(api, labels__job="late")] == ["a", "b"]


async def test_a_registry_written_before_the_listing_fields_is_read(make_api, es, settings):
    """A streams index with the first version's mapping and documents: listed, last, then updated."""
    index = f"{settings.index_prefix}-streams"
    old_fields = {"stream_id", "tenant", "labels", "metadata", "created_at"}
    properties = {
        name: spec
        for name, spec in load_template("streams", settings.index_prefix, ())["template"]["mappings"][
            "properties"
        ].items()
        if name in old_fields
    }
    await es.indices.create(index=index, mappings={"dynamic": "strict", "properties": properties})
    labels = {"job": "legacy"}
    legacy = {"stream_id": stream_id("acme", labels), "tenant": "acme", "labels": labels, "metadata": {}}
    await es.index(index=index, id=legacy["stream_id"], document=legacy, refresh=True)
    api = await make_api()
    await write(api, {"job": "fresh"}, 5)
    assert [s["labels"]["job"] for s in await listed(api)] == ["fresh", "legacy"]
    assert [s["labels"]["job"] for s in await listed(api, match="legac")] == []  # not indexed for match yet
    await write(api, labels, 9)
    assert [s["labels"]["job"] for s in await listed(api)] == ["legacy", "fresh"]
    assert [s["labels"]["job"] for s in await listed(api, match="legac")] == ["legacy"]
