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
