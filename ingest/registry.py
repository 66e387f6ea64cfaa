"""Explicit stream registration (`PUT /api/v1/streams`) and deletion of lines and streams."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import NotFoundError as EsNotFoundError
from elasticsearch.helpers import ScanError, async_scan

from logriver.core.errors import IncompleteDeletionError, LogriverError, StorageUnavailableError
from logriver.core.filters import stream_filter
from logriver.core.storage import Storage, translate_es_errors
from logriver.core.streams import stream_id
from logriver.core.timeutil import MAX_STORABLE_NS, MIN_STORABLE_NS, format_rfc3339_ns, now_ns
from logriver.ingest.writer import stream_document

log = logging.getLogger("logriver.registry")

DELETE_BATCH = 1000
# A bulk delete item with one of these statuses leaves the line gone (404: gone already).
GONE = (200, 404)

# Turns `q` into a query clause; the app factory hands in the read path's parser, which
# ingest may not import itself.
TextFilter = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Deletion:
    """Which lines to delete: the tenant's lines with these labels, inside [start, end), matching q."""

    tenant: str
    labels: dict[str, str]
    start_ns: int | None = None
    end_ns: int | None = None
    text: str | None = None

    @property
    def narrowed(self) -> bool:
        """True when only some of the labelled streams' lines go, so their records must be checked."""
        return self.start_ns is not None or self.end_ns is not None or self.text is not None


@dataclass
class _Tally:
    """The counts a progress document reports, and why lines were kept."""

    total: int
    deleted: int = 0
    failed: int = 0
    reason: str = ""
    streams: set[str] = field(default_factory=set)

    def progress(self, status: str) -> dict[str, Any]:
        done = status == "complete" or self.total == 0
        percent = 100.0 if done else round(100.0 * min(self.deleted, self.total) / self.total, 2)
        update = {"status": status, "deleted": self.deleted, "total": self.total, "percent_complete": percent}
        return {**update, "failed": self.failed} if status == "failed" else update

    def failure(self, error: LogriverError) -> dict[str, Any]:
        return {**self.progress("failed"), "error": {"type": error.type, "message": error.message}}


class StreamRegistry:
    """Creates streams ahead of their lines and deletes streams with their lines."""

    def __init__(self, storage: Storage, text_filter: TextFilter | None = None):
        self.storage = storage
        self.text_filter = text_filter

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

    async def delete_lines(
        self,
        tenant: str,
        labels: dict[str, str],
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        text: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Delete the matching lines in batches, yielding progress; then drop the streams left empty.

        The last document is `complete` only when no matching line is left; otherwise it is
        `failed`, with the counts and the reason. Errors before the first document are raised.
        """
        deletion = Deletion(tenant, labels, start_ns, end_ns, text)
        self.storage.require_ready()
        query = {"bool": {"filter": self._line_filter(deletion)}}
        await self._refresh_lines()
        tally = _Tally(await self._count_lines(query))
        yield tally.progress("deleting")
        try:
            async with contextlib.aclosing(self._batches(query)) as batches:
                async for batch in batches:
                    refused = await self._delete_batch(batch, tally)
                    yield tally.progress("deleting")
                    if refused == len(batch):  # nothing in the batch went: the next ones would not either
                        break
            await self._refresh_lines()
            left = await self._count_lines(query)
            if tally.failed or left:
                raise IncompleteDeletionError(_kept_message(left, tally.reason))
            streams = await self._delete_empty_streams(deletion, tally.streams)
        except LogriverError as error:
            yield tally.failure(error)
            return
        yield {**tally.progress("complete"), "streams_deleted": streams}

    def _line_filter(self, deletion: Deletion) -> list[dict[str, Any]]:
        """The tenant, the labels, the window [start, end) and q: the same lines a read would return."""
        clauses = stream_filter(deletion.tenant, deletion.labels)
        window = {}
        if deletion.start_ns is not None:
            window["gte"] = format_rfc3339_ns(max(deletion.start_ns, MIN_STORABLE_NS))
        if deletion.end_ns is not None:
            window["lt"] = format_rfc3339_ns(min(deletion.end_ns, MAX_STORABLE_NS))
        if window:
            clauses.append({"range": {"@timestamp": window}})
        if deletion.text is not None:
            if self.text_filter is None:
                raise LogriverError("deleting by q needs a text filter; the app factory hands one in")
            clauses.append(self.text_filter(deletion.text))
        return clauses

    async def _count_lines(self, query: dict[str, Any]) -> int:
        # Storage.search fails rather than count short: a shard that cannot answer must not read as "all gone".
        body = {"query": query, "size": 0, "track_total_hits": True}
        found = await self.storage.search(body, "counting lines to delete", index=self.storage.layout.lines_pattern)
        return int(found["hits"]["total"]["value"])

    async def _refresh_lines(self) -> None:
        """Make recent writes (before counting) and the deletions (after them) visible to searches."""
        with translate_es_errors("refreshing lines"):
            await self.storage.client.indices.refresh(index=self.storage.layout.lines_pattern, ignore_unavailable=True)

    async def _batches(self, query: dict[str, Any]) -> AsyncGenerator[list[dict[str, Any]], None]:
        batch: list[dict[str, Any]] = []
        with translate_es_errors("finding lines to delete"):
            try:
                async for hit in async_scan(
                    self.storage.client,
                    index=self.storage.layout.lines_pattern,
                    query={"query": query},
                    _source=["stream_id"],
                    size=DELETE_BATCH,
                    ignore_unavailable=True,
                ):
                    batch.append(hit)
                    if len(batch) >= DELETE_BATCH:
                        yield batch
                        batch = []
            except ScanError as exc:
                # Some shards did not answer the scan: the lines on them cannot be found now.
                raise StorageUnavailableError(f"storage could not list every line to delete: {exc}") from exc
        if batch:
            yield batch

    async def _delete_batch(self, hits: list[dict[str, Any]], tally: _Tally) -> int:
        """Delete one batch into `tally`; returns how many of its lines storage refused to delete."""
        operations = [{"delete": {"_index": hit["_index"], "_id": hit["_id"]}} for hit in hits]
        with translate_es_errors("deleting lines"):
            # No refresh per batch: the scan reads a snapshot; one refresh follows the last batch.
            response = await self.storage.client.bulk(operations=operations)
        refused = 0
        for hit, item in zip(hits, response["items"], strict=True):
            outcome = item["delete"]
            if outcome["status"] in GONE:
                tally.deleted += 1
                tally.streams.add(hit.get("_source", {}).get("stream_id", ""))
            else:
                if not refused:
                    log.warning("storage refused to delete line %s: %s", hit["_id"], outcome.get("error"))
                refused += 1
                tally.reason = tally.reason or _item_reason(outcome)
        tally.failed += refused
        return refused

    async def _delete_empty_streams(self, deletion: Deletion, touched: set[str]) -> int:
        """Drop the records of the streams the deletion emptied; streams that still have lines stay."""
        candidates = set(touched)
        if not deletion.narrowed:  # registered streams without lines go too, as the filter names them
            candidates |= await self._stream_ids({"bool": {"filter": stream_filter(deletion.tenant, deletion.labels)}})
        candidates.discard("")
        ordered = sorted(candidates)
        removed = 0
        for start in range(0, len(ordered), DELETE_BATCH):
            chunk = ordered[start : start + DELETE_BATCH]
            live = await self._streams_with_lines(deletion.tenant, chunk)
            removed += await self._delete_stream_records([sid for sid in chunk if sid not in live])
        return removed

    async def _stream_ids(self, query: dict[str, Any]) -> set[str]:
        with translate_es_errors("finding streams to delete"):
            try:
                return {
                    hit["_id"]
                    async for hit in async_scan(
                        self.storage.client,
                        index=self.storage.layout.streams_index,
                        query={"query": query},
                        _source=False,
                        size=DELETE_BATCH,
                        ignore_unavailable=True,
                    )
                }
            except ScanError as exc:
                raise StorageUnavailableError(f"storage could not list every stream to delete: {exc}") from exc

    async def _streams_with_lines(self, tenant: str, ids: list[str]) -> set[str]:
        query = {"bool": {"filter": [{"term": {"tenant": tenant}}, {"terms": {"stream_id": ids}}]}}
        aggs = {"streams": {"terms": {"field": "stream_id", "size": len(ids)}}}
        body = {"query": query, "aggs": aggs, "size": 0}
        what = "checking which streams still have lines"
        found = await self.storage.search(body, what, index=self.storage.layout.lines_pattern)
        return {bucket["key"] for bucket in found["aggregations"]["streams"]["buckets"]}

    async def _delete_stream_records(self, ids: list[str]) -> int:
        if not ids:
            return 0
        index = self.storage.layout.streams_index
        operations = [{"delete": {"_index": index, "_id": sid}} for sid in ids]
        with translate_es_errors("deleting streams"):
            response = await self.storage.client.bulk(operations=operations, refresh="wait_for")
        refused = [item["delete"] for item in response["items"] if item["delete"]["status"] not in GONE]
        if refused:
            raise IncompleteDeletionError(
                f"every line is gone, but storage refused to delete {len(refused)} stream records "
                f"({_item_reason(refused[0])}); retry the delete"
            )
        return sum(1 for item in response["items"] if item["delete"]["status"] == 200)


async def delete_fully(progress: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """Run a deletion to its last progress document; a deletion that ends `failed` raises."""
    last: dict[str, Any] = {}
    async for update in progress:
        last = update
    if last.get("status") == "failed":
        raise IncompleteDeletionError(last["error"]["message"], {"deleted": last["deleted"], "failed": last["failed"]})
    return last


def _item_reason(outcome: dict[str, Any]) -> str:
    """A bulk item's refusal as status and Elasticsearch's error type, without its internal wording."""
    error = outcome.get("error")
    kind = error.get("type", "unknown") if isinstance(error, dict) else "unknown"
    return f"{outcome['status']} {kind}"


def _kept_message(left: int, reason: str) -> str:
    if reason:
        return f"storage refused to delete some lines ({reason}); {left} matching lines remain; retry later"
    return f"{left} matching lines remain (written while the delete ran?); delete again to remove them"
