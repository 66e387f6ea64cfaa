"""How per-action bulk statuses become per-line outcomes, and when a write must raise."""

from __future__ import annotations

import pytest

from logriver.core.errors import OverloadedError, StorageUnavailableError
from logriver.ingest.schemas import LineIn
from logriver.ingest.writer import CREATED, EXISTS, REJECTED, UNAVAILABLE, LineWriter, _outcome, _pushed_back

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


async def test_lines_of_a_refused_stream_record_are_withdrawn(make_api, es, index_prefix):
    """Storage took the lines but refused their stream record: the lines are deleted and reported."""
    from logriver.core.timeutil import now_ns
    from logriver.ingest.writer import WriteResult
    from logriver.services import SERVICES

    api = await make_api()
    writer = api.http.server.app[SERVICES].writer
    lines = [(0, LineIn(now_ns(), "stored first", {"app": "x"}))]
    stored = await writer.write_lines("acme", lines, b"digest", refresh=True)
    operations, _ = writer._operations("acme", lines, b"digest")
    statuses = [(201, None), (400, {"type": "document_parsing_exception", "reason": "refused"})]
    results = [WriteResult(1, [], stored.ids, [CREATED])]
    await writer._withdraw_unregistered("acme", lines, operations, statuses, results)
    assert results[0].accepted == 0 and results[0].outcomes == [REJECTED]
    assert "its stream cannot be registered: refused" in results[0].rejected[0].message
    await es.indices.refresh(index=f"{index_prefix}-*")
    assert (await es.count(index=f"{index_prefix}-lines-*"))["count"] == 0
