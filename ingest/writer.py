"""The write path's storage layer: lines into time-based indices, streams into the registry."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from logriver.core import rejections as reasons
from logriver.core.errors import OverloadedError, StorageUnavailableError
from logriver.core.handoff import LocalArrivals, Write
from logriver.core.metrics import Metrics
from logriver.core.rejections import Rejection
from logriver.core.storage import Storage, translate_es_errors
from logriver.core.streams import listing_fields, stream_id
from logriver.core.timeutil import format_rfc3339_ns, now_ns
from logriver.ingest.bulkbody import BulkBody
from logriver.ingest.lineids import IdFunction, IdLayouts
from logriver.ingest.schemas import LineIn

log = logging.getLogger("logriver.ingest")

_RETRYABLE_ITEM_STATUSES = {429, 502, 503, 504}
# aiohttp (under the client) warns that bodies over 1 MiB block the event loop while copied.
BULK_CHUNK_BYTES = 1_000_000
HOUR_NS = 3600 * 1_000_000_000


CREATED, EXISTS, REJECTED, UNAVAILABLE = "created", "exists", "rejected", "unavailable"
_STORED = (201, None)  # what an action counts as when storage reports no error for its bulk call


@dataclass(frozen=True)
class WriteResult:
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)  # per line, None unless stored
    # per line: created, exists (stored before: a replay), rejected, unavailable (not stored;
    # only with partial=True, else the write raises)
    outcomes: list[str] = field(default_factory=list)


class SequenceAllocator:
    """Arrival order that is unique across processes: time-based, monotonic, node-suffixed."""

    def __init__(self, clock: Callable[[], int] = now_ns) -> None:
        self._clock = clock  # the storage's arrival clock, aligned to the cluster's
        self._node = secrets.token_hex(3)
        self._last = 0
        self._lock = threading.Lock()

    @property
    def node(self) -> str:
        return self._node

    def last(self) -> int:
        """The largest seq time reserved so far."""
        return self._last

    def reserve(self, count: int) -> tuple[int, str]:
        with self._lock:
            start = max(self._clock(), self._last + 1)
            self._last = start + count - 1
        return start, self._node

    @staticmethod
    def format(base: int, offset: int, node: str) -> str:
        # Fixed-width hex sorts as a keyword in numeric order.
        return f"{base + offset:016x}{node}"


def request_digest(tenant: str, body: bytes) -> bytes:
    digest = hashlib.blake2b(tenant.encode() + b"\0", digest_size=16)
    digest.update(body)  # fed on its own: joined to the tenant, a request's body would be copied once more
    return digest.digest()


class LineWriter:
    """Writes validated lines with `create` so that a replayed line is never stored twice."""

    def __init__(self, storage: Storage, metrics: Metrics, handoff: LocalArrivals | None = None):
        self.storage = storage
        self.metrics = metrics
        self.sequence = SequenceAllocator(storage.clock.now_ns)
        self.activity = ActivityMemory()
        self.id_layouts = IdLayouts(storage)
        # The live tail's hand-off (core/handoff.py): it learns when this process's seqs are stored.
        self.handoff = handoff or LocalArrivals()
        self.handoff.attach(self.sequence.node, self.sequence.last)

    async def write_lines(
        self,
        tenant: str,
        lines: Sequence[tuple[int, LineIn]],
        digest: bytes,
        *,
        refresh: bool = False,
        partial: bool = False,
    ) -> WriteResult:
        """Store lines (position in request, line); accepted counts stored and already-stored lines.

        Lines storage still pushes back after the bounded retries make the write raise (503/429),
        unless `partial`: then they are reported `unavailable` and the caller answers per line.
        Open tails of this process may read the lines as soon as this returns, before the tail's
        settle time (the hand-off learns it through `writing`).
        """
        if not lines:
            return WriteResult(0)
        with self.handoff.writing() as write:
            self.storage.require_ready()
            groups = list(_groups(lines))
            results: list[WriteResult] = []
            targets = await self._targets(lines)
            for group in groups:
                operations, ids = self._operations(tenant, group, digest, targets, write)
                statuses = await self._bulk_with_retries(operations, refresh and len(groups) == 1)
                results.append(self._result(group, ids, statuses))
                await self._withdraw_unregistered(tenant, group, operations, statuses, results)
                if UNAVAILABLE in results[-1].outcomes and not partial:
                    raise _pushed_back(statuses)
            if refresh and len(groups) > 1:
                touched = {self.storage.layout.lines_index(line.timestamp_ns) for _, line in lines}
                await self._refresh(touched | {self.storage.layout.streams_index})  # streams are read too
            return _merged(results)

    async def _targets(self, lines: Sequence[tuple[int, LineIn]]) -> dict[int, tuple[str, IdFunction]]:
        """Per hour the lines fall in (every bucket is whole hours): its index and that index's id function."""
        index_of = {
            hour: self.storage.layout.lines_index(hour * HOUR_NS)
            for hour in {ln.timestamp_ns // HOUR_NS for _, ln in lines}
        }
        functions = await self.id_layouts.functions(index_of.values())
        return {hour: (index, functions[index]) for hour, index in index_of.items()}

    def _operations(
        self,
        tenant: str,
        lines: Sequence[tuple[int, LineIn]],
        digest: bytes,
        targets: dict[int, tuple[str, IdFunction]],
        write: Write,
    ) -> tuple[list[bytes], list[str]]:
        layout = self.storage.layout
        # Reserved per bulk call, just before it is sent: the live tail relies on a line
        # becoming visible soon after its seq, and ingested_at is the same instant.
        base, node = self.sequence.reserve(len(lines))
        ingested = format_rfc3339_ns(base)
        body = BulkBody(tenant, ingested, node, layout.lines_index)
        operations: list[bytes] = []
        ids: list[str] = []
        for offset, (position, line) in enumerate(lines):
            timestamp_ns, message, labels, order_num, extra, _ = line  # one unpacking: attributes cost more
            stream = body.stream(labels)
            record = stream.record
            record.newest_ns = max(record.newest_ns, timestamp_ns)
            make_id = targets[timestamp_ns // HOUR_NS][1]
            doc_id = make_id(tenant, record.sid, line, position, digest)  # in the id layout of its index
            ids.append(doc_id)
            operations.append(body.action(timestamp_ns, doc_id))
            operations.append(body.document(stream, timestamp_ns, order_num, base + offset, message, extra))
        for sid, record in body.streams.items():
            write.stored_in(tenant, sid, record.labels)
            operations.append(_update_action(layout.streams_index, sid))
            newest = self.activity.newest(sid, record.newest_ns)
            upsert = stream_document(tenant, sid, record.labels, {}, ingested) | {"last_line_ns": newest}
            operations.append(_compact(orjson.dumps(_activity_update(newest, upsert))))
        return operations, ids

    async def _bulk_with_retries(self, operations: list[bytes], refresh: bool) -> list[tuple[int, Any]]:
        """Per-action (status, error); retries only the retriable items, a bounded number of times."""
        pending = list(range(len(operations) // 2))
        statuses: list[tuple[int, Any]] = [(0, None)] * len(pending)
        for attempt in range(self.storage.settings.es_retries + 1):
            retry: list[int] = []
            for chunk in _chunks(pending, operations):
                items = await self._bulk(chunk, operations, refresh)
                if items is None:  # storage reported no error: every action of the chunk is stored
                    for action_index in chunk:
                        statuses[action_index] = _STORED
                    continue
                for action_index, item in zip(chunk, items, strict=False):
                    result = next(iter(item.values()))
                    statuses[action_index] = (result["status"], result.get("error"))
                    if result["status"] in _RETRYABLE_ITEM_STATUSES:
                        retry.append(action_index)
            if not retry:
                break
            pending = retry
            if attempt < self.storage.settings.es_retries:
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        return statuses

    async def _bulk(self, chunk: list[int], operations: list[bytes], wait_for: bool) -> list[dict[str, Any]] | None:
        """Each action's result, or None when storage reported that none failed (the usual answer)."""
        whole = len(chunk) * 2 == len(operations)  # the whole request in one chunk, in order
        body = b"\n".join(operations if whole else [b for i in chunk for b in operations[2 * i : 2 * i + 2]]) + b"\n"
        with translate_es_errors("writing lines"), self.metrics.es_bulk_duration.time():
            response = await self.storage.client.bulk(
                # Pre-serialised NDJSON goes out as it is; the client's type only names the
                # list-of-dicts form, which would serialise every line a second time.
                operations=body,  # type: ignore[arg-type]
                refresh="wait_for" if wait_for else False,
                filter_path="errors,items.*.status,items.*.error",  # keep positions, drop the rest
            )
        items: list[dict[str, Any]] = response["items"]
        if response.get("errors") is False and len(items) == len(chunk):
            self.metrics.es_bulk_items.labels(CREATED).inc(len(items))
            return None
        self._count_items(items)
        return items

    def _count_items(self, items: list[dict[str, Any]]) -> None:
        counts: dict[str, int] = {}
        for item in items:
            result = next(iter(item.values()))
            outcome = _outcome(result["status"], result.get("error"))
            counts[outcome] = counts.get(outcome, 0) + 1
        for outcome, count in counts.items():
            self.metrics.es_bulk_items.labels(outcome).inc(count)

    async def _withdraw_unregistered(
        self,
        tenant: str,
        lines: Sequence[tuple[int, LineIn]],
        operations: list[bytes],
        statuses: list[tuple[int, Any]],
        results: list[WriteResult],
    ) -> None:
        """Lines whose stream record storage refused are deleted again and reported rejected.

        A line without its stream could never be listed, so none is left half-accepted.
        """
        refused = {
            orjson.loads(operations[2 * (len(lines) + k)])["update"]["_id"]: _storage_reason(error)
            for k, (status, error) in enumerate(statuses[len(lines) :])
            if status not in (200, 201, 409)
        }
        if not refused:
            return
        result = results[-1]
        ids, outcomes, rejected = list(result.ids), list(result.outcomes), list(result.rejected)
        doomed: list[bytes] = []
        for i, (position, line) in enumerate(lines):
            reason = refused.get(stream_id(tenant, line.labels))
            if reason is None or outcomes[i] not in (CREATED, EXISTS):
                continue
            doomed.append(
                orjson.dumps({"delete": {"_index": self.storage.layout.lines_index(line.timestamp_ns), "_id": ids[i]}})
            )
            ids[i], outcomes[i] = None, REJECTED
            rejected.append(reasons.STREAM_NOT_REGISTERED.at(position, reason=reason))
        if doomed:
            with translate_es_errors("withdrawing lines of an unregistered stream"):
                doomed_body = b"\n".join(doomed) + b"\n"
                await self.storage.client.bulk(operations=doomed_body, refresh="wait_for")  # type: ignore[arg-type]
        accepted = sum(1 for i in ids if i)
        results[-1] = WriteResult(accepted, sorted(rejected, key=lambda r: r.index), ids, outcomes)
        log.warning("storage refused %d stream records: %s", len(refused), next(iter(refused.values())))

    async def _refresh(self, touched: set[str]) -> None:
        """Read-your-writes for requests split over several bulk calls: refresh what they touched."""
        with translate_es_errors("refreshing written lines"):
            await self.storage.client.indices.refresh(index=",".join(sorted(touched)))

    def _result(
        self, lines: Sequence[tuple[int, LineIn]], ids: list[str], statuses: list[tuple[int, Any]]
    ) -> WriteResult:
        if statuses.count(_STORED) == len(statuses):  # the usual answer, without a loop per line
            return WriteResult(len(lines), [], list(ids), [CREATED] * len(lines))
        rejected: list[Rejection] = []
        outcomes = [_outcome(status, error) for status, error in statuses[: len(lines)]]
        for (position, _), outcome, (_, error) in zip(lines, outcomes, statuses, strict=False):
            if outcome == REJECTED:
                rejected.append(reasons.REJECTED_BY_STORAGE.at(position, reason=_storage_reason(error)))
        for status, error in statuses[len(lines) :]:
            if _outcome(status, error) == UNAVAILABLE:
                raise _pushed_back(statuses)
        stored = [doc_id if o in (CREATED, EXISTS) else None for doc_id, o in zip(ids, outcomes, strict=False)]
        return WriteResult(sum(1 for i in stored if i), rejected, stored, outcomes)


def _outcome(status: int, error: Any) -> str:
    if status in (200, 201):
        return CREATED
    if status == 409:
        return EXISTS
    if status in _RETRYABLE_ITEM_STATUSES or status >= 500 or not error:
        return UNAVAILABLE
    return REJECTED


def _pushed_back(statuses: list[tuple[int, Any]]) -> StorageUnavailableError:
    failing = [status for status, error in statuses if _outcome(status, error) == UNAVAILABLE]
    message = (
        f"storage did not take {len(failing)} lines after bounded retries; "
        "retry the whole request (lines already stored will not be duplicated)"
    )
    if all(status == 429 for status in failing):
        return OverloadedError(message)
    return StorageUnavailableError(message)


def _groups(lines: Sequence[tuple[int, LineIn]]) -> Iterator[Sequence[tuple[int, LineIn]]]:
    """Lines in runs of about BULK_CHUNK_BYTES once serialised (estimated, without serialising)."""
    start, size = 0, 0
    for index, (_, line) in enumerate(lines):
        # A guess is enough: _chunks measures the real bytes and splits anything over the limit.
        estimate = len(line.message) + 400 + (64 * len(line.fields) if line.fields else 0)
        if index > start and size + estimate > BULK_CHUNK_BYTES:
            yield lines[start:index]
            start, size = index, 0
        size += estimate
    yield lines[start:]


def _merged(results: list[WriteResult]) -> WriteResult:
    if len(results) == 1:
        return results[0]
    return WriteResult(
        accepted=sum(r.accepted for r in results),
        rejected=[rejection for r in results for rejection in r.rejected],
        ids=[doc_id for r in results for doc_id in r.ids],
        outcomes=[outcome for r in results for outcome in r.outcomes],
    )


def _chunks(pending: list[int], operations: list[bytes]) -> Iterator[list[int]]:
    """Split actions into bulk bodies of at most BULK_CHUNK_BYTES (a single larger action goes alone)."""
    if len(pending) * 2 == len(operations) and sum(map(len, operations)) + len(operations) <= BULK_CHUNK_BYTES:
        yield pending  # the usual request: one body, measured in one pass
        return
    chunk: list[int] = []
    size = 0
    for action_index in pending:
        item_size = len(operations[2 * action_index]) + len(operations[2 * action_index + 1]) + 2
        if chunk and size + item_size > BULK_CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(action_index)
        size += item_size
    if chunk:
        yield chunk


def _storage_reason(error: Any) -> str:
    if isinstance(error, dict):
        reason = error.get("reason") or error.get("type") or "rejected"
        caused = error.get("caused_by", {}).get("reason") if isinstance(error.get("caused_by"), dict) else None
        return f"{reason}: {caused}" if caused else str(reason)
    return str(error)


def _update_action(index: str, doc_id: str) -> bytes:
    # Writers of one stream race on its record; the script is a max, so any retry order is right.
    return b'{"update":{"_index":"%s","_id":"%s","retry_on_conflict":5}}' % (index.encode(), doc_id.encode())


def _activity_update(newest_ns: int, upsert: dict[str, Any]) -> dict[str, Any]:
    """A partial update: metadata and created_at stay; the listing's fields follow the newest line.

    The minimal server has no scripting, so the newest time cannot be a max taken by storage;
    the writer sends the newest it has seen for the stream (see `ActivityMemory`).
    """
    doc = {"last_line_ns": newest_ns, "labels_key": upsert["labels_key"], "label_values": upsert["label_values"]}
    return {"doc": doc, "upsert": upsert, "detect_noop": True}


class ActivityMemory:
    """The newest line time this process has written per stream, so a batch of late lines never
    moves its stream's record back. Bounded: when full it forgets everything and starts over."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._newest: dict[str, int] = {}
        self._capacity = capacity

    def newest(self, sid: str, batch_newest: int) -> int:
        known = self._newest.get(sid, 0)
        if batch_newest <= known:
            return known
        if len(self._newest) >= self._capacity:
            self._newest.clear()
        self._newest[sid] = batch_newest
        return batch_newest


def _compact(encoded: bytes) -> bytes:
    """A copy of exactly its length: orjson returns its whole working buffer, about 4 KiB a call.

    Held for a bulk call and its retries, those buffers were most of a request's memory
    (tracemalloc: 13 of 25 MiB for a 2,000-line request), so held documents are copied.
    """
    return bytes(memoryview(encoded))


def _line_document(tenant: str, sid: str, line: LineIn, seq: str, ingested: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@timestamp": format_rfc3339_ns(line.timestamp_ns),
        "order_num": line.order_num or 0,
        "seq": seq,
        "message": line.message,
        "labels": line.labels,
        "stream_id": sid,
        "tenant": tenant,
        "ingested_at": ingested,
    }
    if line.fields:
        document["fields"] = line.fields
    return document


def stream_document(
    tenant: str, sid: str, labels: dict[str, str], metadata: dict[str, Any], created: str
) -> dict[str, Any]:
    document = {"stream_id": sid, "tenant": tenant, "labels": labels, "metadata": metadata, "created_at": created}
    return document | listing_fields(labels)
