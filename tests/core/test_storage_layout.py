"""How lines sit on disk: sorted, compressed, with the stored `_source` giving back what was sent."""

from __future__ import annotations

import json
from pathlib import Path

from logriver.core.indices import LINE_FIELDS, layout_of
from logriver.core.timeutil import NS_PER_SECOND, format_rfc3339_ns, now_ns

BEFORE_TEMPLATE = Path(__file__).parents[2] / "bench" / "data" / "lines-before.json"
DAY_NS = 86400 * NS_PER_SECOND

AWKWARD = [
    "  leading and trailing spaces \t",
    'JSON {"b": 1.0, "a": [3, 1, 1], "n": 12345678901234567890}',
    "unicode: Grüße, 日本語, emoji \U0001f600, and a NUL-free \\u0000 escape",
    "multi\nline\r\nstack trace\n\tat frame(One.java:1)",
    "x" * 3000,  # longer than the keyword copy keeps
]
FIELDS = {"list": [3, 1, 1, "b", "a"], "float": 1.0, "nested": {"z": True, "a": None}, "big": 2**62}


async def _line_indices(es, prefix: str) -> dict:
    return dict((await es.indices.get(index=f"{prefix}-lines-*")).body)


async def test_new_line_indices_are_sorted_compressed_and_keep_their_source(api, es, index_prefix):
    await api.post_lines(
        {"labels": {"s": "disk"}, "lines": [{"@timestamp": format_rfc3339_ns(now_ns()), "message": "a"}]}
    )
    for index in (await _line_indices(es, index_prefix)).values():
        settings = index["settings"]["index"]
        assert settings["mode"] == "logsdb"
        # Synthetic _source would sort arrays and change numbers; only stored gives back what was sent.
        assert settings["mapping"]["source"]["mode"] == "stored"
        assert settings["mapping"]["ignore_malformed"] == "false"
        assert settings["codec"] == "best_compression"
        assert settings["sort"]["field"] == ["stream_id", "@timestamp", "order_num", "seq"]


async def test_messages_and_fields_round_trip_exactly_and_phrases_still_match(api, es, index_prefix):
    base = now_ns() - 60 * NS_PER_SECOND
    lines = [
        {"@timestamp": format_rfc3339_ns(base + i), "message": message, "fields": FIELDS}
        for i, message in enumerate(AWKWARD)
    ]
    lines.append({"@timestamp": format_rfc3339_ns(base + 10), "message": "disk full on node-1"})
    await api.post_lines({"labels": {"s": "exact"}, "lines": lines})
    page = await api.get_lines(labels__s="exact", limit=10)
    assert [line["message"] for line in page["lines"]] == [*AWKWARD, "disk full on node-1"]
    assert [line["fields"] for line in page["lines"][:-1]] == [FIELDS] * len(AWKWARD)
    stored = await es.search(index=f"{index_prefix}-lines-*", size=10, sort=[{"@timestamp": "asc"}])
    assert [hit["_source"].get("fields") for hit in stored["hits"]["hits"]][:2] == [FIELDS, FIELDS]
    found = await api.get_lines(labels__s="exact", q='"full on node"')
    assert [line["message"] for line in found["lines"]] == ["disk full on node-1"]
    assert (await api.get_lines(labels__s="exact", q='"on full"'))["lines"] == []


async def _index_under_the_earlier_template(es, settings, index_prefix: str, day_ns: int) -> str:
    """As an earlier logriver did: its template in place when the index was made; then today's again."""
    before = json.loads(BEFORE_TEMPLATE.read_text().replace("{prefix}", index_prefix))
    assert set(LINE_FIELDS) <= set(before["template"]["mappings"]["properties"])
    old_index = f"{index_prefix}-lines-{format_rfc3339_ns(day_ns)[:10].replace('-', '.')}"
    templates = layout_of(settings).templates()
    await es.indices.put_index_template(name=f"{index_prefix}-lines", **before)
    await es.indices.create(index=old_index)
    await es.indices.put_index_template(name=f"{index_prefix}-lines", **templates[f"{index_prefix}-lines"])
    return old_index


async def test_an_index_made_under_the_earlier_template_stays_readable(api, es, index_prefix, settings):
    """Lines in an index created before the storage change page and search together with new ones."""
    yesterday = now_ns() - DAY_NS
    old_index = await _index_under_the_earlier_template(es, settings, index_prefix, yesterday)
    await api.post_lines(
        {
            "labels": {"s": "mixed"},
            "lines": [
                {"@timestamp": format_rfc3339_ns(yesterday), "message": "old disk full", "order_num": 1},
                {"@timestamp": format_rfc3339_ns(now_ns() - NS_PER_SECOND), "message": "new disk full"},
            ],
        }
    )
    indices = await _line_indices(es, index_prefix)
    assert len(indices) == 2 and "mode" not in indices[old_index]["settings"]["index"]
    page = await api.get_lines(labels__s="mixed")
    assert [line["message"] for line in page["lines"]] == ["old disk full", "new disk full"]
    found = await api.get_lines(labels__s="mixed", q='"disk full"', from_="tail")
    assert [line["message"] for line in found["lines"]] == ["old disk full", "new disk full"]


async def test_the_message_is_indexed_once(api, es, index_prefix):
    await api.post_lines(
        {"labels": {"s": "once"}, "lines": [{"@timestamp": format_rfc3339_ns(now_ns()), "message": "a"}]}
    )
    for mapping in (await es.indices.get_mapping(index=f"{index_prefix}-lines-*")).body.values():
        assert "fields" not in mapping["mappings"]["properties"]["message"]  # no keyword copy (message.raw)


async def test_substring_filters_answer_alike_over_indices_of_either_template(api, es, index_prefix, settings):
    """The earlier template's message.raw is not used: old and new indices give the same exact answers."""
    yesterday = now_ns() - DAY_NS
    await _index_under_the_earlier_template(es, settings, index_prefix, yesterday)
    long_message = "y" * 2500 + " Disk FULL"  # past the old keyword's ignore_above
    texts = [long_message, "disk full on node-1", "full disk", "disk fullness"]
    stamps = [yesterday, now_ns() - NS_PER_SECOND]
    labels = {"project_id": "acme", "service_id": "mixed"}
    lines = [
        {"@timestamp": format_rfc3339_ns(stamp + i), "message": text}
        for stamp in stamps
        for i, text in enumerate(texts)
    ]
    await api.post_lines({"labels": labels, "lines": lines})
    response = await api.http.get(
        "/v1/acme/services/mixed/events",
        params={"event_info": "disk full", "order": "asc"},
        headers={"X-Auth-Token": "read-acme"},
    )
    body = await response.json()
    assert [event["event_info"] for event in body["events"]] == [long_message, texts[1], texts[3]] * 2
    assert body["total_count"] == 6
