"""How per-action bulk statuses become per-line outcomes, and when a write must raise.

The first tests feed statuses to the pure mapping functions (`_outcome`, `_result`,
`_pushed_back`): they are a table of the mapping, not of Elasticsearch. Every path that acts on
storage's answers is tested with Elasticsearch's own refusals: a NUL label name (400), the write
block (403) and the flood-stage block (429) on the test's own streams index.
"""

from __future__ import annotations

import dataclasses

import pytest

from logriver.core.errors import OverloadedError, StorageUnavailableError
from logriver.ingest.schemas import LineIn
from logriver.ingest.writer import CREATED, EXISTS, REJECTED, UNAVAILABLE, LineWriter, _outcome, _pushed_back
from tests.helpers import auth, ts

LINES = [(i, LineIn(timestamp_ns=i, message="m", labels={})) for i in range(3)]
STREAM_OK = (201, None)


@pytest.mark.parametrize(
    "status,error,outcome",
    [
        (201, None, CREATED),
        (200, None, CREATED),
        (409, {"type": "version_conflict"}, EXISTS),
        (400, {"type": "document_parsing_exception", "reason": "bad"}, REJECTED),
        (429, {"type": "es_rejected_execution_exception"}, UNAVAILABLE),
        (503, {"type": "unavailable_shards_exception"}, UNAVAILABLE),
        (500, {"type": "x"}, UNAVAILABLE),
    ],
)
def test_outcome_table(status, error, outcome):
    assert _outcome(status, error) == outcome


def test_result_reports_each_line():
    writer = LineWriter.__new__(LineWriter)
    statuses = [(201, None), (409, {"type": "c"}), (429, {"type": "r"}), STREAM_OK]
    result = writer._result(LINES, ["a", "b", "c"], statuses)
    assert result.outcomes == [CREATED, EXISTS, UNAVAILABLE]
    assert result.ids == ["a", "b", None] and result.accepted == 2


def test_pushed_back_is_429_only_when_every_failure_was_429():
    assert isinstance(_pushed_back([(429, {}), (201, None)]), OverloadedError)
    error = _pushed_back([(429, {}), (503, {})])
    assert isinstance(error, StorageUnavailableError) and not isinstance(error, OverloadedError)


async def test_a_refused_stream_record_is_no_500_and_leaves_no_line(make_api, es, index_prefix):
    from logriver.core.timeutil import now_ns
    from logriver.services import SERVICES

    api = await make_api()
    writer = api.http.server.app[SERVICES].writer
    # The schema refuses NUL in label names; the writer is asked directly to reach storage's own refusal.
    lines = [(0, LineIn(now_ns(), "kept", {"app": "ok"})), (1, LineIn(now_ns(), "refused", {"\x00": "x"}))]
    result = await writer.write_lines("acme", lines, b"digest", refresh=True)
    assert result.accepted == 1 and result.outcomes == [CREATED, REJECTED]
    assert [(r.index, r.type) for r in result.rejected] == [(1, "rejected_by_storage")]
    await es.indices.refresh(index=f"{index_prefix}-*")
    stored = await es.search(index=f"{index_prefix}-lines-*", query={"match_all": {}})
    assert [hit["_source"]["message"] for hit in stored["hits"]["hits"]] == ["kept"]


async def _block_streams(es, index_prefix: str, block: str | None) -> None:
    for name in ("index.blocks.write", "index.blocks.read_only_allow_delete"):
        value = True if name == block else None
        await es.indices.put_settings(index=f"{index_prefix}-streams", settings={name: value})


async def test_lines_of_a_refused_stream_record_are_withdrawn(make_api, es, index_prefix):
    """Storage took the line but refused its stream record for good: the line is deleted and reported.

    The refusal is Elasticsearch's own: the write block answers 403 to the stream record only,
    since it is on the streams index alone.
    """
    api = await make_api()
    await api.post_lines({"labels": {"app": "before"}, "lines": [{"@timestamp": ts(), "message": "kept"}]})
    await _block_streams(es, index_prefix, "index.blocks.write")
    try:
        answer = await api.post_lines({"labels": {"app": "new"}, "lines": [{"@timestamp": ts(), "message": "gone"}]})
    finally:
        await _block_streams(es, index_prefix, None)
    assert answer["accepted"] == 0, answer
    assert [(r["index"], r["type"]) for r in answer["rejected"]] == [(0, "rejected_by_storage")], answer
    assert "its stream cannot be registered" in answer["rejected"][0]["message"]
    await es.indices.refresh(index=f"{index_prefix}-*")
    stored = await es.search(index=f"{index_prefix}-lines-*", query={"match_all": {}})
    assert [hit["_source"]["message"] for hit in stored["hits"]["hits"]] == ["kept"]


async def test_a_pushed_back_stream_record_asks_for_a_retry_that_completes(make_api, settings, es, index_prefix):
    """A stream record refused with 429 (the flood-stage block) makes the request a 429; its retry stores it once."""
    api = await make_api(dataclasses.replace(settings, es_retries=0))
    body = {"labels": {"app": "later"}, "lines": [{"@timestamp": ts(), "message": "once"}]}
    await api.post_lines({"labels": {"app": "before"}, "lines": [{"@timestamp": ts(), "message": "kept"}]})
    await _block_streams(es, index_prefix, "index.blocks.read_only_allow_delete")
    try:
        refused = await api.http.post("/api/v1/lines", json=body, headers=auth(), params={"refresh": "wait_for"})
        assert refused.status == 429, await refused.text()
        assert (await refused.json())["error"]["type"] == "overloaded"
    finally:
        await _block_streams(es, index_prefix, None)
    assert (await api.post_lines(body))["accepted"] == 1
    assert [line["message"] for line in (await api.get_lines(labels__app="later"))["lines"]] == ["once"]
    assert len((await api.get("/api/v1/streams", labels__app="later"))["streams"]) == 1


async def test_bulk_items_are_counted_by_outcome_whether_or_not_storage_reports_errors(make_api):
    """A bulk call storage answers without errors counts every action created; a replay counts each one."""
    from logriver.services import SERVICES

    api = await make_api()
    metrics = api.http.server.app[SERVICES].writer.metrics

    def counted(outcome: str) -> float:
        return metrics.registry.get_sample_value("logriver_es_bulk_items_total", {"result": outcome}) or 0.0

    body = {"labels": {"app": "counted"}, "lines": [{"@timestamp": ts(), "message": f"m{i}"} for i in range(3)]}
    first = await api.post_lines(body)
    assert first["accepted"] == 3
    assert (counted(CREATED), counted(EXISTS)) == (4.0, 0.0)  # three lines and the stream record
    replay = await api.post_lines(body)
    assert replay["accepted"] == 3  # already stored: accepted, not stored twice
    assert (counted(CREATED), counted(EXISTS)) == (5.0, 3.0)
