"""The write path's storage layer: lines into time-based indices, streams into the registry."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import orjson

from core.errors import LogriverError, OverloadedError, StorageUnavailableError
from core.storage import Storage, translate_es_errors
from core.streams import stream_id
from core.timeutil import format_rfc3339_ns, now_ns
from ingest.schemas import LineIn, Rejection

log = logging.getLogger("logriver.ingest")

_RETRYABLE_ITEM_STATUSES = {429, 502, 503, 504}
# aiohttp (under the client) warns that bodies over 1 MiB block the event loop while copied.
BULK_CHUNK_BYTES = 1_000_000


@dataclass(frozen=True)
class WriteResult:
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)  # per written line, None when rejected


class SequenceAllocator:
    """Arrival order that is unique across processes: time-based, monotonic, node-suffixed."""

    def __init__(self) -> None:
        self._node = secrets.token_hex(3)
        self._last = 0
        self._lock = threading.Lock()

    def reserve(self, count: int) -> tuple[int, str]:
        with self._lock:
            start = max(now_ns(), self._last + 1)
            self._last = start + count - 1
        return start, self._node

    @staticmethod
    def format(base: int, offset: int, node: str) -> str:
        # Fixed-width hex sorts as a keyword in numeric order.
        return f"{base + offset:016x}{node}"


def line_id(tenant: str, sid: str, line: LineIn, position: int, request_digest: bytes) -> str:
    """The identity rule: client id, else (stream, @timestamp, order_num), else (request, position)."""
    if line.client_id is not None:
        key = orjson.dumps(["id", tenant, sid, line.client_id])
    elif line.order_num is not None:
        key = orjson.dumps(["on", tenant, sid, str(line.timestamp_ns), line.order_num])
    else:
        key = b"rq" + request_digest + position.to_bytes(8, "big")
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def request_digest(tenant: str, body: bytes) -> bytes:
    return hashlib.blake2b(tenant.encode() + b"\0" + body, digest_size=16).digest()


class LineWriter:
    """Writes validated lines with `create` so that a replayed line is never stored twice."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.sequence = SequenceAllocator()

    async def write_lines(
        self,
        tenant: str,
        lines: Sequence[tuple[int, LineIn]],
        digest: bytes,
        *,
        refresh: bool = False,
    ) -> WriteResult:
        """Store lines (position in request, line); accepted counts stored and already-stored lines."""
        if not lines:
            return WriteResult(0)
        self.storage.require_ready()
        operations, ids = self._operations(tenant, lines, digest)
        statuses = await self._bulk_with_retries(operations, refresh)
        return self._result(lines, ids, statuses)

    def _operations(
        self, tenant: str, lines: Sequence[tuple[int, LineIn]], digest: bytes
    ) -> tuple[list[bytes], list[str]]:
        layout = self.storage.layout
        base, node = self.sequence.reserve(len(lines))
        ingested = format_rfc3339_ns(now_ns())
        operations: list[bytes] = []
        ids: list[str] = []
        streams: dict[str, dict[str, str]] = {}
        ids_by_labels: dict[tuple[tuple[str, str], ...], str] = {}
        for offset, (position, line) in enumerate(lines):
            label_key = tuple(line.labels.items())
            sid = ids_by_labels.get(label_key) or ids_by_labels.setdefault(label_key, stream_id(tenant, line.labels))
            streams.setdefault(sid, line.labels)
            doc_id = line_id(tenant, sid, line, position, digest)
            ids.append(doc_id)
            operations.append(
                orjson.dumps({"create": {"_index": layout.lines_index(line.timestamp_ns), "_id": doc_id}})
            )
            operations.append(orjson.dumps(_line_document(tenant, sid, line, SequenceAllocator.format(base, offset, node), ingested)))
        for sid, labels in streams.items():
            operations.append(orjson.dumps({"create": {"_index": layout.streams_index, "_id": sid}}))
            operations.append(orjson.dumps(stream_document(tenant, sid, labels, {}, ingested)))
        return operations, ids

    async def _bulk_with_retries(self, operations: list[bytes], refresh: bool) -> list[tuple[int, Any]]:
        """Per-action (status, error); retries only the retriable items, a bounded number of times."""
        pending = list(range(len(operations) // 2))
        statuses: list[tuple[int, Any]] = [(0, None)] * len(pending)
        split = False
        for attempt in range(self.storage.settings.es_retries + 1):
            retry: list[int] = []
            chunks = list(_chunks(pending, operations))
            split = split or len(chunks) > 1
            for chunk in chunks:
                items = await self._bulk(chunk, operations, refresh and not split)
                for action_index, item in zip(chunk, items):
                    result = next(iter(item.values()))
                    statuses[action_index] = (result["status"], result.get("error"))
                    if result["status"] in _RETRYABLE_ITEM_STATUSES:
                        retry.append(action_index)
            if not retry:
                if refresh and split:
                    await self._refresh(operations)
                return statuses
            pending = retry
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        raise OverloadedError(
            f"storage rejected {len(pending)} lines after {self.storage.settings.es_retries} retries; "
            "retry the whole request (accepted lines will not be duplicated)"
        )

    async def _bulk(self, chunk: list[int], operations: list[bytes], wait_for: bool) -> list[dict[str, Any]]:
        body = b"\n".join(b for i in chunk for b in operations[2 * i : 2 * i + 2]) + b"\n"
        with translate_es_errors("writing lines"):
            response = await self.storage.client.bulk(
                operations=body,
                refresh="wait_for" if wait_for else False,
                filter_path="items.*.status,items.*.error",  # keep positions, drop the rest
            )
        return response["items"]

    async def _refresh(self, operations: list[bytes]) -> None:
        """Read-your-writes for requests split over several bulk calls: refresh what they touched."""
        touched = {orjson.loads(operations[i])["create"]["_index"] for i in range(0, len(operations), 2)}
        with translate_es_errors("refreshing written lines"):
            await self.storage.client.indices.refresh(index=",".join(sorted(touched)))

    def _result(
        self, lines: Sequence[tuple[int, LineIn]], ids: list[str], statuses: list[tuple[int, Any]]
    ) -> WriteResult:
        accepted = 0
        rejected: list[Rejection] = []
        written: list[str | None] = []
        for (position, _), doc_id, (status, error) in zip(lines, ids, statuses):
            if status in (200, 201, 409):
                accepted += 1
                written.append(doc_id)
                continue
            written.append(None)
            if status >= 500 or not error:
                raise StorageUnavailableError("storage failed to store some lines; retry the whole request")
            rejected.append(Rejection(position, "rejected_by_storage", _storage_reason(error)))
        for status, error in statuses[len(lines):]:
            if status not in (200, 201, 409):
                raise LogriverError(f"registering a stream failed: {error}")
        return WriteResult(accepted, rejected, written)


def _chunks(pending: list[int], operations: list[bytes]) -> Iterator[list[int]]:
    """Split actions into bulk bodies of at most BULK_CHUNK_BYTES (a single larger action goes alone)."""
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
    return {"stream_id": sid, "tenant": tenant, "labels": labels, "metadata": metadata, "created_at": created}

