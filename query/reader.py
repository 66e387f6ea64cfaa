"""The read path's storage layer: the only place that builds line queries for Elasticsearch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from logriver.core.errors import BadRequestError
from logriver.core.filters import stream_filter
from logriver.core.storage import Storage, Window
from logriver.core.timeutil import MAX_STORABLE_NS, MIN_STORABLE_NS, format_rfc3339_ns, parse_rfc3339_ns
from logriver.query.cursor import Direction, SortKey
from logriver.query.substring import contains_folded, prefilter
from logriver.query.textquery import parse_query

Order = Literal["asc", "desc"]
# Candidates of an exact substring filter read per search.
EXACT_BATCH = 5000
LINE_SOURCE = ["@timestamp", "order_num", "message", "labels", "fields", "stream_id"]


@dataclass(frozen=True)
class LineQuery:
    """Which lines: always one tenant; labels match exactly; window [start, end); q on the text."""

    tenant: str
    labels: dict[str, str] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    text: str | None = None
    stream_id: str | None = None
    contains: str | None = None  # substring of the message, compared lower-cased (query/substring.py)
    fields: dict[str, str] = field(default_factory=dict)  # exact values of `fields.<key>`
    stream_ids: tuple[str, ...] | None = None  # lines of any of these streams (none: no line)
    # Case-sensitive substrings of the message, prefiltered here as a superset; the caller checks them exactly.
    substrings: tuple[str, ...] = ()

    def fingerprint_parts(self) -> tuple[Any, ...]:
        return (
            self.tenant,
            sorted(self.labels.items()),
            str(self.start_ns),
            str(self.end_ns),
            self.text,
            self.stream_id,
            self.contains,
            sorted(self.fields.items()),
            self.stream_ids,
            self.substrings,
        )


@dataclass(frozen=True, init=False)
class Line:
    id: str
    timestamp_ns: int
    order_num: int
    message: str
    labels: dict[str, str]
    fields: dict[str, Any]
    stream_id: str
    key: SortKey
    highlight: list[str] | None = None

    def __init__(  # noqa: PLR0917 - the dataclass's own signature
        self,
        id: str,
        timestamp_ns: int,
        order_num: int,
        message: str,
        labels: dict[str, str],
        fields: dict[str, Any],
        stream_id: str,
        key: SortKey,
        highlight: list[str] | None = None,
    ) -> None:
        # The generated __init__ of a frozen dataclass sets each field through object.__setattr__:
        # 3 µs a line, most of a page's conversion. One assignment of the whole __dict__ is the
        # same object, still frozen. tests/query/test_line_objects.py holds it to the fields.
        object.__setattr__(
            self,
            "__dict__",
            {
                "id": id,
                "timestamp_ns": timestamp_ns,
                "order_num": order_num,
                "message": message,
                "labels": labels,
                "fields": fields,
                "stream_id": stream_id,
                "key": key,
                "highlight": highlight,
            },
        )

    @classmethod
    def from_hit(cls, hit: dict[str, Any]) -> Line:
        """The line of a search hit, each field taken from the hit when first asked for.

        A page renders each of its lines once (straight from the hit, see as_dict) and needs
        the sort keys of two of them: building every line's fields and key up front was most
        of a page's conversion. Reading any field fills them all, as `hit_to_line` would.
        """
        highlight = hit.get("highlight")
        line = cls.__new__(cls)
        # `highlight` is set now: as a field with a default it is also a class attribute,
        # which would answer before __getattr__ is asked.
        state = {_HIT: hit, "highlight": highlight.get("message") if highlight else None}
        object.__setattr__(line, "__dict__", state)
        return line

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute not in __dict__: a field of a line made by from_hit.
        hit = self.__dict__.get(_HIT)
        if hit is None or name not in _FIELDS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.__dict__.update(hit_to_line(hit).__dict__)
        return self.__dict__[name]

    def as_dict(self) -> dict[str, Any]:
        hit = self.__dict__.get(_HIT)
        if hit is not None:
            return _hit_as_dict(hit, self.highlight)
        data = {
            "id": self.id,
            "@timestamp": format_rfc3339_ns(self.timestamp_ns),
            "order_num": self.order_num,
            "message": self.message,
            "labels": self.labels,
            "fields": self.fields,
            "stream_id": self.stream_id,
        }
        if self.highlight is not None:
            data["highlight"] = self.highlight
        return data


_HIT = "_hit"  # where a line made by Line.from_hit keeps its hit
_FIELDS = frozenset(f.name for f in fields(Line))


def _hit_as_dict(hit: dict[str, Any], highlight: list[str] | None) -> dict[str, Any]:
    """`hit_to_line(hit).as_dict()` without the line: what a page sends of each hit."""
    source = hit["_source"]
    sort = hit.get("sort")
    data = {
        "id": hit["_id"],
        "@timestamp": format_rfc3339_ns(int(sort[0]) if sort else _source_ns(source["@timestamp"])),
        "order_num": int(source.get("order_num", 0)),
        "message": source.get("message", ""),
        "labels": source.get("labels", {}),
        "fields": source.get("fields") or {},
        "stream_id": source.get("stream_id", ""),
    }
    if highlight is not None:
        data["highlight"] = highlight
    return data


def window_of(query: LineQuery) -> Window:
    """The time a query's lines can lie in: its indices there must all answer."""
    return Window(query.start_ns, query.end_ns)


def sort_clause(order: Order) -> list[dict[str, Any]]:
    return [
        {"@timestamp": {"order": order, "numeric_type": "date_nanos"}},
        {"order_num": {"order": order}},
        {"seq": {"order": order}},
    ]


def build_filter(query: LineQuery) -> list[dict[str, Any]]:
    """Tenant first: every read is confined to the caller's tenant whatever q says."""
    clauses = stream_filter(query.tenant, query.labels)
    if query.stream_id is not None:
        clauses.append({"term": {"stream_id": query.stream_id}})
    window: dict[str, str] = {}
    # Bounds outside what date_nanos can hold would make Elasticsearch refuse the query.
    if query.start_ns is not None and query.start_ns > MIN_STORABLE_NS:
        window["gte"] = format_rfc3339_ns(min(query.start_ns, MAX_STORABLE_NS))
    if query.end_ns is not None and query.end_ns <= MAX_STORABLE_NS:
        window["lt"] = format_rfc3339_ns(max(query.end_ns, MIN_STORABLE_NS))
    if window:
        clauses.append({"range": {"@timestamp": window}})
    if query.text:
        clauses.append(parse_query(query.text))
    clauses.extend({"term": {f"fields.{key}": value}} for key, value in sorted(query.fields.items()))
    if query.stream_ids is not None:
        clauses.append({"terms": {"stream_id": list(query.stream_ids)}})
    # Supersets only: LineReader finishes `contains` exactly, the caller of `substrings` checks them.
    needles = [query.contains or "", *query.substrings]
    clauses.extend(clause for clause in map(prefilter, filter(None, needles)) if clause is not None)
    return clauses


def _boundary_range(key: SortKey, order: Order) -> dict[str, Any]:
    # Redundant with search_after, but lets Elasticsearch skip whole indices and segments,
    # which is what keeps a page at depth as fast as the first one.
    bound = "gte" if order == "asc" else "lte"
    return {"range": {"@timestamp": {bound: format_rfc3339_ns(key.timestamp_ns)}}}


def slice_body(
    query: LineQuery, direction: Direction, after: SortKey | None, size: int, source: list[str] | bool
) -> dict[str, Any]:
    """The search for `size` lines strictly past `after` in `direction`."""
    order: Order = "asc" if direction == "newer" else "desc"
    filters = build_filter(query)
    if after is not None:
        filters.append(_boundary_range(after, order))
    body: dict[str, Any] = {
        "query": {"bool": {"filter": filters}},
        "sort": sort_clause(order),
        "size": size,
        "_source": source,
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = after.search_after()
    return body


def hit_to_line(hit: dict[str, Any]) -> Line:
    source = hit["_source"]
    order_num = int(source.get("order_num", 0))
    if "sort" in hit:
        key = SortKey.from_sort_values(hit["sort"])
    else:
        key = SortKey(_source_ns(source["@timestamp"]), order_num, source.get("seq", "0"))
    highlight = hit.get("highlight")
    return Line(
        hit["_id"],
        key.timestamp_ns,
        order_num,
        source.get("message", ""),
        source.get("labels", {}),
        source.get("fields") or {},
        source.get("stream_id", ""),
        key,
        highlight.get("message") if highlight else None,
    )


def _source_ns(text: str) -> int:
    return parse_rfc3339_ns(text)


class LineReader:
    """Sorted, filtered slices of lines, addressed by sort keys.

    A query's `contains` is answered exactly here: Elasticsearch narrows to candidates and each
    is checked in Python. At most `max_exact_scan` candidates are checked per read, else a 400.
    """

    def __init__(self, storage: Storage, max_exact_scan: int = 100_000):
        self.storage = storage
        self.max_exact_scan = max_exact_scan

    async def slice(self, query: LineQuery, direction: Direction, after: SortKey | None, size: int) -> list[Line]:
        """Up to `size` lines strictly past `after` in `direction`, in that direction's order."""
        if not query.contains:
            return await self._candidates(query, direction, after, size)
        lines: list[Line] = []
        async for line in self._exact(query, direction, after):
            lines.append(line)
            if len(lines) == size:
                break
        return lines

    async def _candidates(self, query: LineQuery, direction: Direction, after: SortKey | None, size: int) -> list[Line]:
        body = slice_body(query, direction, after, size, LINE_SOURCE)
        return [Line.from_hit(hit) for hit in (await self.raw_search(body, window_of(query)))["hits"]["hits"]]

    async def _exact(self, query: LineQuery, direction: Direction, after: SortKey | None) -> AsyncIterator[Line]:
        """The lines past `after` whose message contains `query.contains`, checked in batches."""
        await self._check_scan(query)
        needle = query.contains or ""
        while True:
            lines = await self._candidates(query, direction, after, EXACT_BATCH)
            for line in lines:
                if contains_folded(line.message, needle):
                    yield line
            if len(lines) < EXACT_BATCH:
                return
            after = lines[-1].key

    async def _check_scan(self, query: LineQuery) -> None:
        # Counted before reading anything: too wide a filter is refused at once, never cut short.
        body = {"query": {"bool": {"filter": build_filter(query)}}, "size": 0}
        body["track_total_hits"] = self.max_exact_scan + 1
        response = await self.raw_search(body, window_of(query), "counting lines")
        if int(response["hits"]["total"]["value"]) > self.max_exact_scan:
            raise BadRequestError(
                f"the substring filter would check more than {self.max_exact_scan} lines "
                "(LOGRIVER_CONTAINS_MAX_SCANNED_LINES); narrow the time range or give a longer substring",
                {"max_scanned_lines": self.max_exact_scan},
                type="scan_limit",
            )

    async def raw_search(
        self, body: dict[str, Any], window: Window | None = None, what: str = "reading lines"
    ) -> dict[str, Any]:
        """A search answered by every shard of the window, or the reader's 503 (core/storage.py)."""
        return await self.storage.search(body, what, window)

    async def get(self, tenant: str, line_id: str) -> Line | None:
        body = {
            "query": {"bool": {"filter": [{"term": {"tenant": tenant}}, {"ids": {"values": [line_id]}}]}},
            "size": 1,
            "_source": [*LINE_SOURCE, "seq"],
        }
        hits = (await self.raw_search(body, Window(), "reading a line"))["hits"]["hits"]
        return hit_to_line(hits[0]) if hits else None

    async def count(self, query: LineQuery) -> int:
        if query.contains:
            return sum([1 async for _ in self._exact(query, "newer", None)])
        # A size-0 search rather than the count API: it takes allow_partial_search_results.
        body = {"query": {"bool": {"filter": build_filter(query)}}, "size": 0, "track_total_hits": True}
        response = await self.raw_search(body, window_of(query), "counting lines")
        return int(response["hits"]["total"]["value"])

    async def page_at(self, query: LineQuery, order: Order, offset: int, limit: int) -> tuple[int, list[Line]]:
        """How many lines match, and those at positions [offset, offset + limit) in `order`."""
        if query.contains:
            return await self._exact_page(query, order, offset, limit)
        total, lines = await asyncio.gather(self.count(query), self._page(query, order, offset, limit))
        return total, lines

    async def _exact_page(self, query: LineQuery, order: Order, offset: int, limit: int) -> tuple[int, list[Line]]:
        # One pass over the candidates gives both the total and the page.
        total, lines = 0, []
        async for line in self._exact(query, "newer" if order == "asc" else "older", None):
            if offset <= total < offset + limit:
                lines.append(line)
            total += 1
        return total, lines

    async def _page(self, query: LineQuery, order: Order, offset: int, limit: int) -> list[Line]:
        after = await self.skip_to(query, order, offset) if offset else None
        if offset and after is None:
            return []  # nothing matches at all
        return await self.slice(query, "newer" if order == "asc" else "older", after, limit)

    async def iter_lines(self, query: LineQuery, order: Order = "asc", batch: int = 5000) -> AsyncIterator[Line]:
        """Every matching line in order, fetched in batches: memory stays bounded at any size."""
        direction: Direction = "newer" if order == "asc" else "older"
        after: SortKey | None = None
        while True:
            lines = await self.slice(query, direction, after, batch)
            for line in lines:
                yield line
            if len(lines) < batch:
                return
            after = lines[-1].key

    async def skip_to(self, query: LineQuery, order: Order, offset: int) -> SortKey | None:
        """The key of the line just before position `offset`, walking keys only (deep offsets)."""
        direction: Direction = "newer" if order == "asc" else "older"
        after: SortKey | None = None
        if query.contains:
            async for line in self._exact(query, direction, None):
                if offset == 0:
                    break
                after, offset = line.key, offset - 1
            return after
        remaining = offset
        while remaining > 0:
            step = min(remaining, 10000)
            hits = await self._keys(query, direction, after, step)
            if not hits:
                return after
            after = hits[-1]
            remaining -= len(hits)
            if len(hits) < step:
                break
        return after

    async def _keys(self, query: LineQuery, direction: Direction, after: SortKey | None, size: int) -> list[SortKey]:
        body = slice_body(query, direction, after, size, False)
        hits = (await self.raw_search(body, window_of(query)))["hits"]["hits"]
        return [SortKey.from_sort_values(hit["sort"]) for hit in hits]
