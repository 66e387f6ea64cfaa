"""Explicit stream registration (`PUT /api/v1/streams`) and deletion of lines and streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from elasticsearch import NotFoundError as EsNotFoundError
from elasticsearch.helpers import async_scan

from logriver.core.filters import stream_filter
from logriver.core.storage import Storage, translate_es_errors
from logriver.core.streams import stream_id
from logriver.core.timeutil import format_rfc3339_ns, now_ns
from logriver.ingest.writer import stream_document

DELETE_BATCH = 1000


class StreamRegistry:
    """Creates streams ahead of their lines and deletes streams with their lines."""

    def __init__(self, storage: Storage):
        self.storage = storage

    async def put_stream(self, tenant: str, labels: dict[str, str], metadata: dict[str, Any]) -> tuple[str, bool]:
        """Create the stream or replace its metadata; returns (stream id, created)."""
        self.storage.require_ready()
        sid = stream_id(tenant, labels)
        index = self.storage.layout.streams_index
        with translate_es_errors("registering a stream"):
            try:
                existing = await self.storage.client.get(index=index, id=sid)
            except EsNotFoundError:
                existing = None
            created = format_rfc3339_ns(now_ns())
            document = stream_document(tenant, sid, labels, metadata, created)
            if existing is not None:
                document["created_at"] = existing["_source"].get("created_at", created)
                if existing["_source"].get("last_line_ns") is not None:  # the listing's order survives
                    document["last_line_ns"] = existing["_source"]["last_line_ns"]
            await self.storage.client.index(index=index, id=sid, document=document, refresh="wait_for")
        return sid, existing is None

    async def delete_lines(self, tenant: str, labels: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Delete matching lines in batches, yielding progress; then drop their stream records."""
        self.storage.require_ready()
        query = {"bool": {"filter": stream_filter(tenant, labels)}}
        client = self.storage.client
        await self._refresh_lines()
        with translate_es_errors("counting lines to delete"):
            total = (await client.count(index=self.storage.layout.lines_pattern, query=query, ignore_unavailable=True))[
                "count"
            ]
        deleted = 0
        yield _progress("deleting", deleted, total)
        async for batch in self._batches(query):
            deleted += await self._delete_batch(batch)
            yield _progress("deleting", deleted, total)
        await self._refresh_lines()
        streams = await self._delete_streams(query)
        yield {**_progress("complete", deleted, total), "streams_deleted": streams}

    async def _refresh_lines(self) -> None:
        """Make recent writes (before counting) and the deletions (after them) visible to searches."""
        with translate_es_errors("refreshing lines"):
            await self.storage.client.indices.refresh(index=self.storage.layout.lines_pattern, ignore_unavailable=True)

    async def _batches(self, query: dict[str, Any]) -> AsyncIterator[list[tuple[str, str]]]:
        batch: list[tuple[str, str]] = []
        with translate_es_errors("finding lines to delete"):
            async for hit in async_scan(
                self.storage.client,
                index=self.storage.layout.lines_pattern,
                query={"query": query},
                _source=False,
                size=DELETE_BATCH,
                ignore_unavailable=True,
            ):
                batch.append((hit["_index"], hit["_id"]))
                if len(batch) >= DELETE_BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    async def _delete_batch(self, batch: list[tuple[str, str]]) -> int:
        operations = [{"delete": {"_index": index, "_id": doc_id}} for index, doc_id in batch]
        with translate_es_errors("deleting lines"):
            # No refresh per batch: the scan reads a snapshot; one refresh follows the last batch.
            response = await self.storage.client.bulk(operations=operations)
        return sum(1 for item in response["items"] if item["delete"]["status"] in (200, 404))

    async def _delete_streams(self, query: dict[str, Any]) -> int:
        index = self.storage.layout.streams_index
        removed = 0
        with translate_es_errors("deleting streams"):
            while True:
                found = await self.storage.client.search(index=index, query=query, size=DELETE_BATCH, source=False)
                hits = found["hits"]["hits"]
                if not hits:
                    return removed
                operations = [{"delete": {"_index": index, "_id": hit["_id"]}} for hit in hits]
                await self.storage.client.bulk(operations=operations, refresh="wait_for")
                removed += len(hits)


def _progress(status: str, deleted: int, total: int) -> dict[str, Any]:
    percent = 100.0 if total == 0 or status == "complete" else round(100.0 * deleted / total, 2)
    return {"status": status, "deleted": deleted, "total": total, "percent_complete": percent}
