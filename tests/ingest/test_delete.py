"""DELETE /api/v1/lines: exactly the lines named go, a refusal is reported, unknown parameters are refused.

The refusals are Elasticsearch's own: the `read_only_allow_delete` block (the flood-stage block)
makes it answer every document delete in the blocked index with a 429 item.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.helpers import auth, ts

HOUR = 3600.0
DAY = 24 * HOUR


async def _delete(api, expect: int = 200, **params: str) -> list[dict[str, Any]]:
    response = await api.http.delete("/api/v1/lines", params=params, headers=auth())
    body = await response.read()
    assert response.status == expect, body
    if expect != 200:
        return [orjson.loads(body)]
    assert response.content_type == "application/x-ndjson"
    return [orjson.loads(line) for line in body.splitlines()]


async def _messages(api, **params: str) -> list[str]:
    page = await api.get("/api/v1/lines", limit=1000, **params)
    return [line["message"] for line in page["lines"]]


async def _write(api, app: str, lines: list[tuple[float, str]]) -> None:
    body = {"labels": {"app": app}, "lines": [{"@timestamp": ts(off), "message": msg} for off, msg in lines]}
    assert (await api.post_lines(body))["rejected"] == []


async def _block(es, index: str) -> None:
    await es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": True})


async def _unblock(es, index: str) -> None:
    # Without this the fixture could still delete the index, but the test's lines would stay readable.
    await es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": None})


async def test_a_window_deletes_only_its_lines_and_keeps_the_stream(api):
    old = [(-HOUR - i, f"old{i}") for i in range(10)]
    new = [(-30.0 - i, f"new{i}") for i in range(10)]
    await _write(api, "win", old + new)
    updates = await _delete(api, **{"labels.app": "win", "start": ts(-62 * 60), "end": ts(-50 * 60)})
    assert updates[-1] == {
        "status": "complete",
        "deleted": 10,
        "total": 10,
        "percent_complete": 100.0,
        "streams_deleted": 0,
    }
    assert sorted(await _messages(api, labels__app="win")) == sorted(m for _, m in new)
    assert len((await api.get("/api/v1/streams", labels__app="win"))["streams"]) == 1
    rest = await _delete(api, **{"labels.app": "win", "end": ts(0)})
    assert rest[-1]["deleted"] == 10 and rest[-1]["streams_deleted"] == 1
    assert (await api.get("/api/v1/streams", labels__app="win"))["streams"] == []


async def test_q_deletes_only_the_matching_lines(api):
    await _write(api, "q", [(-1.0, "drop me"), (-2.0, "keep me"), (-3.0, "drop too")])
    updates = await _delete(api, **{"labels.app": "q", "q": "drop"})
    assert updates[-1]["status"] == "complete" and updates[-1]["deleted"] == 2
    assert await _messages(api, labels__app="q") == ["keep me"]
    assert len((await api.get("/api/v1/streams", labels__app="q"))["streams"]) == 1


async def test_unknown_parameters_are_refused_by_name_and_nothing_goes(api):
    await _write(api, "unk", [(-1.0, "a")])
    answer = await _delete(api, 400, **{"labels.app": "unk", "since": "1h", "limit": "5"})
    error = answer[0]["error"]
    assert error["details"]["parameters"] == ["limit", "since"], error
    assert "limit, since" in error["message"]
    bad_window = await _delete(api, 400, **{"labels.app": "unk", "start": ts(0), "end": ts(-10)})
    assert "end" in bad_window[0]["error"]["details"]["parameters"]
    bad_q = await _delete(api, 400, **{"labels.app": "unk", "q": "(unclosed"})
    assert bad_q[0]["error"]["type"] == "invalid_query"
    assert await _messages(api, labels__app="unk") == ["a"]


async def test_a_refused_delete_ends_failed_with_counts_and_keeps_everything(api, es, index_prefix):
    await _write(api, "ro", [(-float(i), f"l{i}") for i in range(30)])
    await _block(es, f"{index_prefix}-lines-*")
    try:
        updates = await _delete(api, **{"labels.app": "ro"})
    finally:
        await _unblock(es, f"{index_prefix}-lines-*")
    last = updates[-1]
    assert last["status"] == "failed", updates
    assert (last["deleted"], last["failed"], last["total"]) == (0, 30, 30)
    assert last["error"]["type"] == "deletion_incomplete"
    assert "429 cluster_block_exception" in last["error"]["message"]
    assert len(await _messages(api, labels__app="ro")) == 30
    assert len((await api.get("/api/v1/streams", labels__app="ro"))["streams"]) == 1


async def test_a_partly_refused_delete_reports_what_went_and_what_stayed(api, es, index_prefix):
    await _write(
        api, "half", [(-2 * DAY - i, f"old{i}") for i in range(5)] + [(-float(i), f"new{i}") for i in range(7)]
    )
    old_index = next(name for name in await _lines_indices(es, index_prefix) if not name.endswith(_today(ts(0))))
    await _block(es, old_index)
    try:
        updates = await _delete(api, **{"labels.app": "half"})
    finally:
        await _unblock(es, old_index)
    last = updates[-1]
    assert last["status"] == "failed", updates
    assert (last["deleted"], last["failed"], last["total"]) == (7, 5, 12)
    assert last["percent_complete"] < 100
    assert sorted(await _messages(api, labels__app="half")) == [f"old{i}" for i in range(5)]
    assert len((await api.get("/api/v1/streams", labels__app="half"))["streams"]) == 1


async def _lines_indices(es, index_prefix: str) -> list[str]:
    found = await es.indices.get(index=f"{index_prefix}-lines-*")
    assert len(found) == 2, list(found)
    return sorted(found)


def _today(timestamp: str) -> str:
    return timestamp[:10].replace("-", ".")
