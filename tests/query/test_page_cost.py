"""What a page costs Elasticsearch: one search in the common case, measured by the node's own counters."""

from __future__ import annotations

import time

from logriver.core.timeutil import format_rfc3339_ns

BASE = time.time_ns() - 1800 * 1_000_000_000


async def _searches(es, prefix: str) -> int:
    stats = await es.indices.stats(index=f"{prefix}-lines-*", metric="search")
    return int(stats["_all"]["primaries"]["search"]["query_total"])


async def test_a_page_past_a_token_is_one_search_and_still_knows_both_sides(api, es, index_prefix):
    lines = [{"@timestamp": format_rfc3339_ns(BASE + i * 1000), "message": f"m{i}"} for i in range(6)]
    await api.post_lines({"labels": {"s": "cost"}, "lines": lines})
    first = await api.get_lines(labels__s="cost", limit=2)
    for token_field, expected, more in (("newer_token", ["m2", "m3"], True), ("older_token", [], False)):
        before = await _searches(es, index_prefix)
        page = await api.get_lines(labels__s="cost", limit=2, token_=first[token_field])
        assert await _searches(es, index_prefix) - before == 1
        assert [line["message"] for line in page["lines"]] == expected
        # The token's own line lies behind it: known without asking Elasticsearch.
        behind = "has_more_older" if token_field == "newer_token" else "has_more_newer"
        assert page[behind] is True
        assert page["has_more_newer" if token_field == "newer_token" else "has_more_older"] is more
