"""Reading the stream registry, with each stream's first and last line and line count.

A listing pages through the registry in a point in time (a frozen view of it, opened with the
first page and named in every token) with `search_after` on (order key, stream id). The order
key, the newest line's time, changes while lines arrive; in the frozen view it does not, so a
stream written during paging neither jumps back over the reader's position (it would be
missed) nor forward (it would be seen twice). Streams created after the first page belong to
the next listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from elasticsearch import NotFoundError as EsNotFoundError

from logriver.core.errors import InvalidTokenError
from logriver.core.filters import stream_filter
from logriver.core.storage import Storage, check_complete, translate_es_errors
from logriver.core.streams import StreamInfo, stream_id
from logriver.core.timeutil import format_rfc3339_ns
from logriver.query.cursor import TokenCodec, query_fingerprint
from logriver.query.reader import LineQuery, build_filter, window_of

MAX_STREAMS = 1000
# The most streams one selector may name at once (Loki's query API): one registry search, no paging.
MAX_MATCHED_STREAMS = 10000
# How long a listing's frozen view outlives its last page; each page renews it.
SNAPSHOT_KEEP_ALIVE = "5m"
# With a window or q, registry documents are checked against the lines in rounds until the
# page is full; the bound keeps one request's work bounded when few streams match.
MAX_ROUNDS = 8
Order = Literal["activity", "labels"]
_SORTS: dict[str, list[dict[str, Any]]] = {
    "activity": [{"last_line_ns": {"order": "desc", "missing": "_last"}}, {"stream_id": "asc"}],
    "labels": [{"labels_key": {"order": "asc", "missing": "_last"}}, {"stream_id": "asc"}],
}


@dataclass(frozen=True)
class StreamListing:
    """One page of a listing: which streams, how many, in which order, from where."""

    query: LineQuery
    limit: int = 100
    token: str | None = None
    order: Order = "activity"
    match: str | None = None  # case-insensitive substring of any label value

    def fingerprint(self) -> str:
        return query_fingerprint("streams", *self.query.fingerprint_parts(), self.order, self.match)

    @property
    def counts_lines(self) -> bool:
        """A window or q lists only the streams with lines in it."""
        q = self.query
        return q.start_ns is not None or q.end_ns is not None or bool(q.text)


@dataclass
class _Position:
    snapshot: str
    after: list[Any] | None = None


class StreamReader:
    def __init__(self, storage: Storage, codec: TokenCodec):
        self.storage = storage
        self.codec = codec

    async def get(self, tenant: str, labels: dict[str, str]) -> StreamInfo | None:
        """The stream with exactly these labels, or None when it was never written nor created."""
        filters = [*stream_filter(tenant, labels), {"ids": {"values": [stream_id(tenant, labels)]}}]
        body = {"query": {"bool": {"filter": filters}}, "size": 1}
        response = await self.storage.search(body, "reading streams", index=self.storage.layout.streams_index)
        found = [hit["_source"] for hit in response["hits"]["hits"]]
        return (await self._with_stats(found, LineQuery(tenant=tenant)))[0] if found else None

    async def page(self, listing: StreamListing) -> tuple[list[StreamInfo], str | None]:
        """One page of streams and the token of the next, None on the last page."""
        self.storage.require_ready()
        position = await self._position(listing)
        collected: list[StreamInfo] = []
        for _ in range(MAX_ROUNDS):
            want = listing.limit - len(collected)
            hits = await self._registry_page(listing, position, want + 1)
            docs = hits[:want]
            if docs:
                position.after = docs[-1]["sort"]
            streams = await self._with_stats([hit["_source"] for hit in docs], listing.query)
            collected.extend(s for s in streams if s.lines > 0 or not listing.counts_lines)
            if len(hits) <= want:
                await self._close(position.snapshot)
                return collected, None
            if len(collected) >= listing.limit:
                break
        payload = {"v": 1, "s": position.snapshot, "a": position.after, "f": listing.fingerprint()}
        return collected, self.codec.seal(payload)

    async def find(self, query: LineQuery, limit: int = MAX_MATCHED_STREAMS) -> list[StreamInfo]:
        """Streams having all the query's labels, with their statistics; with a window, only those with lines in it."""
        streams = await self._with_stats(await self._matching(query.tenant, query.labels, limit), query)
        windowed = query.start_ns is not None or query.end_ns is not None
        return [s for s in streams if s.lines > 0] if windowed else streams

    async def registered(self, tenant: str, labels: dict[str, str], limit: int) -> list[StreamInfo]:
        """Registered streams having all these labels, without line statistics (cheap)."""
        docs = await self._matching(tenant, labels, limit)
        return [StreamInfo(doc["stream_id"], doc["labels"], doc.get("metadata") or {}) for doc in docs]

    async def _matching(self, tenant: str, labels: dict[str, str], limit: int) -> list[dict[str, Any]]:
        filters = stream_filter(tenant, labels)
        size = min(limit, MAX_MATCHED_STREAMS)
        body = {"query": {"bool": {"filter": filters}}, "sort": [{"stream_id": "asc"}], "size": size}
        response = await self.storage.search(body, "reading streams", index=self.storage.layout.streams_index)
        return [hit["_source"] for hit in response["hits"]["hits"]]

    async def _position(self, listing: StreamListing) -> _Position:
        if listing.token is None:
            with translate_es_errors("opening a view of the streams"):
                opened = await self.storage.client.open_point_in_time(
                    index=self.storage.layout.streams_index, keep_alive=SNAPSHOT_KEEP_ALIVE
                )
            return _Position(str(opened["id"]))
        payload = self.codec.unseal(listing.token)
        if payload.get("v") != 1 or not isinstance(payload.get("s"), str) or not isinstance(payload.get("a"), list):
            raise InvalidTokenError("the token is not a streams token; use the next_token of GET /api/v1/streams")
        if payload.get("f") != listing.fingerprint():
            raise InvalidTokenError(
                "the token belongs to a different listing; send it with the same labels, match, sort, window and q"
            )
        return _Position(payload["s"], payload["a"])

    async def _registry_page(self, listing: StreamListing, position: _Position, size: int) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "query": {"bool": {"filter": registry_filter(listing)}},
            "sort": _SORTS[listing.order],
            "size": size,
            "pit": {"id": position.snapshot, "keep_alive": SNAPSHOT_KEEP_ALIVE},
            "track_total_hits": False,
        }
        if position.after is not None:
            body["search_after"] = position.after
        with translate_es_errors("reading streams", self.storage.layout):
            try:
                # A point in time fixes its indices, so Storage.search's index options cannot go with it.
                response = await self.storage.client.search(allow_partial_search_results=False, **body)
            except EsNotFoundError:  # the point in time is gone
                raise InvalidTokenError(
                    f"the listing's snapshot expired ({SNAPSHOT_KEEP_ALIVE} after its last page); "
                    "start again without a token"
                ) from None
        check_complete(response.body, "reading streams", self.storage.layout)
        position.snapshot = str(response.get("pit_id", position.snapshot))
        hits: list[dict[str, Any]] = response["hits"]["hits"]
        return hits

    async def _close(self, snapshot: str) -> None:
        with translate_es_errors("closing a view of the streams"):
            await self.storage.client.options(ignore_status=404).close_point_in_time(id=snapshot)

    async def _with_stats(self, registered: list[dict[str, Any]], query: LineQuery) -> list[StreamInfo]:
        if not registered:
            return []
        ids = [doc["stream_id"] for doc in registered]
        stats = await self._stats(query, ids)
        return [_stream_info(doc, stats.get(doc["stream_id"])) for doc in registered]

    async def _stats(self, query: LineQuery, ids: list[str]) -> dict[str, dict[str, Any]]:
        filters = build_filter(LineQuery(query.tenant, {}, query.start_ns, query.end_ns, query.text))
        filters.append({"terms": {"stream_id": ids}})

        # The edges come from the sort values (nanoseconds from doc values), not from _source:
        # loading 2 stored documents per stream was most of a page's time among many streams.
        def edge(order: str) -> dict[str, Any]:
            sort = [{"@timestamp": {"order": order, "numeric_type": "date_nanos"}}]
            return {"top_hits": {"size": 1, "_source": False, "sort": sort}}

        aggs = {
            "streams": {
                "terms": {"field": "stream_id", "size": len(ids)},
                "aggs": {"first": edge("asc"), "last": edge("desc")},
            }
        }
        body = {"query": {"bool": {"filter": filters}}, "aggs": aggs, "size": 0}
        response = await self.storage.search(body, "measuring streams", window_of(query))
        buckets = response.get("aggregations", {}).get("streams", {}).get("buckets", [])
        return {bucket["key"]: bucket for bucket in buckets}


def registry_filter(listing: StreamListing) -> list[dict[str, Any]]:
    """Tenant, exact labels, the one id asked for, and the substring of a label value."""
    query = listing.query
    filters = stream_filter(query.tenant, query.labels)
    if query.stream_id is not None:
        filters.append({"term": {"stream_id": query.stream_id}})
    if listing.match:
        # No ngram analysis nor `wildcard` field type on a minimal server: a case-insensitive
        # wildcard query on the keyword values walks the terms once (bench: streams).
        escaped = listing.match.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
        filters.append({"wildcard": {"label_values": {"value": f"*{escaped}*", "case_insensitive": True}}})
    return filters


def _edge_ns(bucket: dict[str, Any], name: str) -> int:
    return int(bucket[name]["hits"]["hits"][0]["sort"][0])


def _stream_info(doc: dict[str, Any], bucket: dict[str, Any] | None) -> StreamInfo:
    if bucket is None:
        return StreamInfo(doc["stream_id"], doc["labels"], doc.get("metadata") or {})
    return StreamInfo(
        doc["stream_id"],
        doc["labels"],
        doc.get("metadata") or {},
        first_timestamp_ns=_edge_ns(bucket, "first"),
        last_timestamp_ns=_edge_ns(bucket, "last"),
        lines=int(bucket["doc_count"]),
    )


def render_stream(stream: StreamInfo) -> dict[str, Any]:
    def ts(value: int | None) -> str | None:
        return None if value is None else format_rfc3339_ns(value)

    return {
        "id": stream.stream_id,
        "labels": stream.labels,
        "metadata": stream.metadata,
        "first_timestamp": ts(stream.first_timestamp_ns),
        "last_timestamp": ts(stream.last_timestamp_ns),
        "lines": stream.lines,
    }
