"""Streams registry, single lines, context pages, and deletion with streamed progress."""

from __future__ import annotations

import re
import time

import orjson

from logriver.core.timeutil import format_rfc3339_ns
from tests.helpers import auth

BASE = time.time_ns() - 600 * 1_000_000_000


def at(offset: int) -> str:
    return format_rfc3339_ns(BASE + offset * 1_000_000)


async def test_created_stream_exists_empty_until_written(api):
    response = await api.http.put(
        "/api/v1/streams", json={"labels": {"job": "a"}, "metadata": {"display_name": "Job A"}}, headers=auth()
    )
    assert response.status == 201
    created = await response.json()
    streams = (await api.get("/api/v1/streams", labels__job="a"))["streams"]
    assert streams == [
        {
            "id": created["stream"]["id"],
            "labels": {"job": "a"},
            "metadata": {"display_name": "Job A"},
            "first_timestamp": None,
            "last_timestamp": None,
            "lines": 0,
        }
    ]
    assert (await api.get("/api/v1/streams", labels__job="missing"))["streams"] == []
    again = await api.http.put(
        "/api/v1/streams", json={"labels": {"job": "a"}, "metadata": {"display_name": "A2"}}, headers=auth()
    )
    assert again.status == 200


async def test_streams_report_edges_counts_and_window(api):
    await api.post_lines(
        {"labels": {"job": "b", "part": "1"}, "lines": [{"@timestamp": at(i), "message": "x"} for i in range(3)]}
    )
    await api.post_lines({"labels": {"job": "b", "part": "2"}, "lines": [{"@timestamp": at(100), "message": "y"}]})
    streams = (await api.get("/api/v1/streams", labels__job="b"))["streams"]
    by_part = {s["labels"]["part"]: s for s in streams}
    assert (
        by_part["1"]["lines"] == 3
        and by_part["1"]["first_timestamp"] == at(0)
        and by_part["1"]["last_timestamp"] == at(2)
    )
    assert by_part["1"]["metadata"] == {}
    windowed = (await api.get("/api/v1/streams", labels__job="b", start=at(50)))["streams"]
    assert [s["labels"]["part"] for s in windowed] == ["2"]
    assert (await api.get("/api/v1/streams", token="admin-other", labels__job="b"))["streams"] == []


async def test_stream_validation(api):
    response = await api.http.put("/api/v1/streams", json={"metadata": {}}, headers=auth())
    assert response.status == 400
    assert "labels" in orjson.dumps(await response.json()).decode()
    assert (await api.http.put("/api/v1/streams", json={"labels": {"a": "b"}}, headers=auth("read-acme"))).status == 403


async def test_line_by_id_and_tenant_isolation(api):
    await api.post_lines(
        {"labels": {"job": "c"}, "lines": [{"@timestamp": at(1), "message": "hello", "fields": {"k": {"n": 1}}}]}
    )
    line = (await api.get_lines(labels__job="c"))["lines"][0]
    assert re.fullmatch(r"[0-9A-Za-z_-]+", line["id"]), "ids are opaque, but always safe in a URL path"
    fetched = await api.get(f"/api/v1/lines/{line['id']}")
    assert fetched == line and fetched["fields"] == {"k": {"n": 1}}
    missing = await api.get(f"/api/v1/lines/{line['id']}", token="admin-other", expect=404)
    assert missing["error"]["type"] == "line_not_found"


async def test_context_page_and_its_tokens(api):
    await api.post_lines(
        {"labels": {"job": "d"}, "lines": [{"@timestamp": at(i), "message": f"c{i}"} for i in range(10)]}
    )
    await api.post_lines(
        {"labels": {"job": "d", "other": "1"}, "lines": [{"@timestamp": at(5), "message": "not mine"}]}
    )
    lines = (await api.get_lines(labels__job="d", limit=100))["lines"]
    target = next(line for line in lines if line["message"] == "c5")
    context = await api.get(f"/api/v1/lines/{target['id']}/context", before=2, after=3)
    assert [line["message"] for line in context["lines"]] == ["c3", "c4", "c5", "c6", "c7", "c8"]
    assert context["has_more_older"] and context["has_more_newer"]
    older = await api.get_lines(stream_id=context["stream_id"], token_=context["older_token"], limit=10)
    assert [line["message"] for line in older["lines"]] == ["c0", "c1", "c2"] and not older["has_more_older"]
    newer = await api.get_lines(stream_id=context["stream_id"], token_=context["newer_token"], limit=10)
    assert [line["message"] for line in newer["lines"]] == ["c9"]
    edge = await api.get(f"/api/v1/lines/{lines[0]['id']}/context", before=5, after=0)
    assert (
        [line["message"] for line in edge["lines"]] == ["c0"] and not edge["has_more_older"] and edge["has_more_newer"]
    )


async def test_delete_streams_progress_and_removes_streams(api):
    await api.post_lines(
        {"labels": {"job": "e"}, "lines": [{"@timestamp": at(i), "message": "z"} for i in range(2500)]}
    )
    await api.post_lines({"labels": {"job": "keep"}, "lines": [{"@timestamp": at(1), "message": "stay"}]})
    forbidden = await api.http.delete("/api/v1/lines", params={"labels.job": "e"}, headers=auth("rw-acme"))
    assert forbidden.status == 403
    unfiltered = await api.http.delete("/api/v1/lines", headers=auth())
    assert unfiltered.status == 400
    response = await api.http.delete("/api/v1/lines", params={"labels.job": "e"}, headers=auth())
    assert response.status == 200 and response.content_type == "application/x-ndjson"
    updates = [orjson.loads(line) for line in (await response.read()).splitlines()]
    assert updates[0] == {"status": "deleting", "deleted": 0, "total": 2500, "percent_complete": 0.0}
    assert any(0 < u["percent_complete"] < 100 for u in updates)
    assert (
        updates[-1]["status"] == "complete"
        and updates[-1]["deleted"] == 2500
        and updates[-1]["percent_complete"] == 100.0
    )
    assert (await api.get_lines(labels__job="e"))["lines"] == []
    assert (await api.get("/api/v1/streams", labels__job="e"))["streams"] == []
    assert len((await api.get_lines(labels__job="keep"))["lines"]) == 1
