"""Reading the stream registry, with each stream's first and last line and line count."""

from __future__ import annotations

from typing import Any

from logriver.core.filters import stream_filter
from logriver.core.storage import Storage
from logriver.core.streams import StreamInfo, stream_id
from logriver.core.timeutil import format_rfc3339_ns, parse_rfc3339_ns
from logriver.query.reader import LineQuery, build_filter, window_of

MAX_STREAMS = 10000


class StreamReader:
    def __init__(self, storage: Storage):
        self.storage = storage

    async def get(self, tenant: str, labels: dict[str, str]) -> StreamInfo | None:
        """The stream with exactly these labels, or None when it was never written nor created."""
        found = await self._registered(tenant, labels, exact_id=stream_id(tenant, labels), limit=1)
        if not found:
            return None
        return (await self._with_stats(found, LineQuery(tenant=tenant)))[0]

    async def find(self, query: LineQuery, limit: int = 1000) -> list[StreamInfo]:
        """Streams having all the query's labels; with a window, only those with lines in it."""
        registered = await self._registered(query.tenant, query.labels, None, limit)
        streams = await self._with_stats(registered, query)
        windowed = query.start_ns is not None or query.end_ns is not None
        return [s for s in streams if s.lines > 0] if windowed else streams

    async def _registered(
        self, tenant: str, labels: dict[str, str], exact_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        filters = stream_filter(tenant, labels)
        if exact_id is not None:
            filters.append({"ids": {"values": [exact_id]}})
        body = {"query": {"bool": {"filter": filters}}, "sort": [{"stream_id": "asc"}], "size": min(limit, MAX_STREAMS)}
        response = await self.storage.search(body, "reading streams", index=self.storage.layout.streams_index)
        return [hit["_source"] for hit in response["hits"]["hits"]]

    async def _with_stats(self, registered: list[dict[str, Any]], query: LineQuery) -> list[StreamInfo]:
        if not registered:
            return []
        ids = [doc["stream_id"] for doc in registered]
        stats = await self._stats(query, ids)
        return [_stream_info(doc, stats.get(doc["stream_id"])) for doc in registered]

    async def _stats(self, query: LineQuery, ids: list[str]) -> dict[str, dict[str, Any]]:
        filters = build_filter(LineQuery(query.tenant, {}, query.start_ns, query.end_ns, query.text))
        filters.append({"terms": {"stream_id": ids}})
        edge = {"size": 1, "_source": ["@timestamp"]}
        aggs = {
            "streams": {
                "terms": {"field": "stream_id", "size": len(ids)},
                "aggs": {
                    "first": {"top_hits": {**edge, "sort": [{"@timestamp": "asc"}]}},
                    "last": {"top_hits": {**edge, "sort": [{"@timestamp": "desc"}]}},
                },
            }
        }
        body = {"query": {"bool": {"filter": filters}}, "aggs": aggs, "size": 0}
        response = await self.storage.search(body, "measuring streams", window_of(query))
        buckets = response.get("aggregations", {}).get("streams", {}).get("buckets", [])
        return {bucket["key"]: bucket for bucket in buckets}


def _edge_ns(bucket: dict[str, Any], name: str) -> int:
    return parse_rfc3339_ns(bucket[name]["hits"]["hits"][0]["_source"]["@timestamp"])


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
