"""Bulk documents become checked lines exactly as the native schema would take their raw spelling."""

from __future__ import annotations

import copy
import json
from unittest.mock import patch

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from logriver.adapters.escompat.bulk import BulkAction, BulkService, ItemError
from logriver.adapters.escompat.mapping import DocumentMapping, MappingError, document_to_line
from logriver.core.settings import Settings
from logriver.core.timeutil import MAX_INT64, NS_PER_SECOND
from logriver.ingest.schemas import validate_lines
from tests.ingest.test_fastpath import json_values

NOW = 1_714_564_800 * NS_PER_SECOND
SETTINGS = Settings.from_env(
    {
        "LOGRIVER_MAX_LABELS": "3",
        "LOGRIVER_MAX_MESSAGE_BYTES": "40",
        "LOGRIVER_MAX_FIELDS_DEPTH": "2",
        "LOGRIVER_RETENTION_DAYS": "3",
        "LOGRIVER_ES_COMPAT_ORDER_FIELD": "seq",
        "LOGRIVER_ES_COMPAT_LABEL_FIELDS": "host.name,app",
    }
)

times = st.one_of(
    st.sampled_from(["2024-05-01T12:00:00.5Z", "2024-04-20T00:00:00Z", "2024-05-01 13:00", "1714564800000", "soon"]),
    st.integers(1_713_000_000_000, 1_715_000_000_000),
    st.floats(1.7e12, 1.72e12),
    json_values,
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "@timestamp": times,
        "message": st.one_of(st.text(max_size=12), json_values),
        "log": st.text(max_size=50),
        "seq": st.one_of(
            st.integers(-2, 10), st.integers(MAX_INT64 - 1, MAX_INT64 + 2), st.text(max_size=3), json_values
        ),
        "host": st.one_of(st.fixed_dictionaries({"name": st.text(max_size=4)}), json_values),
        "app": st.one_of(st.text(max_size=4), json_values),
        "extra": json_values,
    },
)
# Documents as parse_bulk hands them over: decoded by orjson (integers beyond 64 bits become floats).
documents = documents.filter(lambda d: "Infinity" not in json.dumps(d)).map(lambda d: orjson.loads(json.dumps(d)))
client_ids = st.one_of(st.none(), st.text(max_size=3), st.just("x" * 513))


def _reference(actions: list[BulkAction], mapping: DocumentMapping):
    """What the service answered before its shortcut: raw lines, then the native validation."""
    raw: list = [None] * len(actions)
    problems = {}
    for action in actions:
        try:
            raw[action.position] = document_to_line(action.source, action.index, action.doc_id, mapping, NOW)
        except MappingError as exc:
            problems[action.position] = ItemError(400, exc.type, exc.message)
    valid, rejected = validate_lines(raw, {}, SETTINGS, now=NOW)
    problems |= {r.index: ItemError(400, r.type, r.message) for r in rejected}
    return valid, problems


@settings(max_examples=800, deadline=None)  # CPU-bound: a shared core must not fail it on time
@given(st.lists(st.tuples(documents, client_ids, st.sampled_from(["logs-2024.05.01", "web"])), max_size=5))
def test_documents_become_the_lines_and_problems_the_native_schema_gives(batch):
    service = BulkService.__new__(BulkService)
    service.settings, service.mapping = SETTINGS, DocumentMapping.from_settings(SETTINGS)
    actions = [BulkAction(i, "create", index, doc_id, doc) for i, (doc, doc_id, index) in enumerate(batch)]
    expected = _reference(copy.deepcopy(actions), service.mapping)
    with patch("logriver.adapters.escompat.bulk.now_ns", return_value=NOW):  # the clock, not storage
        assert service._lines(actions) == expected
