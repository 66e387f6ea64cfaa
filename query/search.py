"""Ad-hoc search across streams: hits with highlights, totals, a token, and a timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from logriver.core.errors import ValidationError
from logriver.core.timeutil import NS_PER_MS, format_rfc3339_ns, parse_duration_ms
from logriver.query.cursor import Cursor, Direction, TokenCodec, query_fingerprint
from logriver.query.reader import (
    LINE_SOURCE,
    Line,
    LineQuery,
    LineReader,
    Order,
    build_filter,
    sort_clause,
    window_of,
)

_NICE_INTERVALS_MS = [
    1000,
    5000,
    10_000,
    30_000,
    60_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    604_800_000,
    2_592_000_000,
]
MAX_BUCKETS = 1000
MAX_INTERVAL_MS = 36500 * 86_400_000  # a century: more than any window holds
AUTO_BUCKETS = 60


@dataclass(frozen=True)
class SearchRequest:
    query: LineQuery
    order: Order = "desc"
    limit: int = 100
    token: str | None = None
    interval: str | None = None  # "<n><unit>" or "auto"


class SearchService:
    def __init__(self, reader: LineReader, codec: TokenCodec, max_total: int):
        self.reader = reader
        self.codec = codec
        self.max_total = max_total

    async def search(self, request: SearchRequest) -> dict[str, Any]:
        fingerprint = query_fingerprint("search", request.order, *request.query.fingerprint_parts())
        direction: Direction = "newer" if request.order == "asc" else "older"
        after = self.codec.decode(request.token, fingerprint).key if request.token else None
        body: dict[str, Any] = {
            "query": {"bool": {"filter": build_filter(request.query)}},
            "sort": sort_clause(request.order),
            "size": request.limit + 1,
            "_source": LINE_SOURCE,
            "track_total_hits": self.max_total,
            "highlight": {"fields": {"message": {"number_of_fragments": 3, "fragment_size": 200}}},
        }
        if after is not None:
            body["search_after"] = after.search_after()
        if request.interval:
            body["aggs"] = {"timeline": await self._histogram_agg(request)}
        response = await self.reader.raw_search(body, window_of(request.query), "searching lines")
        hits = [Line.from_hit(hit) for hit in response["hits"]["hits"]]
        result: dict[str, Any] = {
            "hits": [line.as_dict() | {"highlight": line.highlight or []} for line in hits[: request.limit]],
            "total": response["hits"]["total"],
            "next_token": None,
        }
        if len(hits) > request.limit:
            result["next_token"] = self.codec.encode(Cursor(direction, hits[request.limit - 1].key, False, fingerprint))
        if request.interval:
            # Over no lines index at all, Elasticsearch answers without any aggregations.
            result["histogram"] = _buckets(response.get("aggregations", {}).get("timeline", {}))
        return result

    async def _histogram_agg(self, request: SearchRequest) -> dict[str, Any]:
        """A date histogram of at most MAX_BUCKETS buckets, checked before Elasticsearch is asked."""
        query = request.query
        interval_ms = None if request.interval == "auto" else parse_interval_ms(request.interval or "")
        bounds = await self._bounds(query)
        if interval_ms is None:
            interval_ms = _auto_interval(bounds[1] - bounds[0] if bounds else 0)
        elif bounds and _bucket_count(bounds, interval_ms) > MAX_BUCKETS:
            raise ValidationError(
                f"interval {request.interval} makes {_bucket_count(bounds, interval_ms)} buckets over the "
                f"searched time range; the limit is {MAX_BUCKETS}: use a larger interval, a narrower window or `auto`",
                {"parameter": "interval", "max_buckets": MAX_BUCKETS},
            )
        agg: dict[str, Any] = {"field": "@timestamp", "fixed_interval": f"{interval_ms}ms", "min_doc_count": 0}
        if query.start_ns is not None and query.end_ns is not None:
            agg["extended_bounds"] = {"min": query.start_ns // NS_PER_MS, "max": query.end_ns // NS_PER_MS - 1}
        return {"date_histogram": agg}

    async def _bounds(self, query: LineQuery) -> tuple[int, int] | None:
        """The histogram's range in ms: the window, or the matching lines' own span when it is open."""
        if query.start_ns is not None and query.end_ns is not None:
            return query.start_ns // NS_PER_MS, max(query.end_ns // NS_PER_MS - 1, query.start_ns // NS_PER_MS)
        body = {
            "query": {"bool": {"filter": build_filter(query)}},
            "size": 0,
            "aggs": {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}}},
        }
        aggs = (await self.reader.raw_search(body, window_of(query), "measuring the search span")).get(
            "aggregations", {}
        )
        first, last = aggs.get("first", {}).get("value"), aggs.get("last", {}).get("value")
        return (int(first), int(last)) if first is not None and last is not None else None


def _bucket_count(bounds: tuple[int, int], interval_ms: int) -> int:
    # Fixed intervals are aligned on the epoch, so the buckets are those of the first and last keys.
    return bounds[1] // interval_ms - bounds[0] // interval_ms + 1


def parse_interval_ms(text: str) -> int:
    interval_ms = parse_duration_ms(text)
    if not interval_ms or interval_ms > MAX_INTERVAL_MS:
        raise ValidationError(
            f"interval {text[:40]!r} is not a duration such as 30s, 5m, 1h, 1d (at most 36500d), or `auto`",
            {"parameter": "interval"},
        )
    return interval_ms


def _auto_interval(span_ms: int) -> int:
    target = max(span_ms // AUTO_BUCKETS, 1)
    nice = next((i for i in _NICE_INTERVALS_MS if i >= target), _NICE_INTERVALS_MS[-1])
    # Past the largest nice interval, long spans still get at most MAX_BUCKETS buckets.
    return max(nice, -(-span_ms // (MAX_BUCKETS - 2)))


def _buckets(agg: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"start": format_rfc3339_ns(int(bucket["key"]) * NS_PER_MS), "count": bucket["doc_count"]}
        for bucket in agg.get("buckets", [])
    ]
