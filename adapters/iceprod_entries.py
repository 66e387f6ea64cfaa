"""IceProd log entries kept as streams, so that their `data` is searchable line by line.

An entry is the stream labelled `api=iceprod`, `iceprod_log_id=<log_id>`, plus `dataset_id`,
`task_id` and `name` when the body gives them as strings. Line i of the stream is the i-th
piece of `data`: the text between two "\\n", or a slice of a text line longer than
LOGRIVER_MAX_MESSAGE_BYTES, marked as continuing the piece before it. Every line carries the
entry's timestamp and order_num = i, so the lines read back in order and join into `data`
byte for byte. Line 0, the head, also carries the entry's other body fields and is written
last: an entry is found only once all its lines are stored.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from logriver.core.errors import BadRequestError, LogriverError
from logriver.core.jsonload import load_json
from logriver.core.settings import Settings
from logriver.core.timeutil import NS_PER_SECOND, now_ns
from logriver.ingest.registry import StreamRegistry
from logriver.ingest.schemas import LineIn
from logriver.ingest.writer import LineWriter, request_digest
from logriver.query.reader import Line, LineQuery, LineReader

API_LABELS = {"api": "iceprod"}
LOG_ID_LABEL = "iceprod_log_id"
LABELLED_FIELDS = ("dataset_id", "task_id", "name")  # body fields that are also labels (filters)
HEAD_FIELD = "iceprod_entry"  # "head" on line 0
BODY_FIELD = "iceprod_body"  # on the head: the body fields except `data`, as JSON text
PIECES_FIELD = "iceprod_pieces"  # on the head: how many lines hold `data`
CONTINUED_FIELD = "iceprod_continued"  # true: no "\n" between this line and the one before
RESERVED_KEYS = frozenset({"log_id", "timestamp", "data"})  # the entry's own, never taken from a stored body

# Bounds on what one storage round trip holds in memory.
WRITE_BATCH_LINES = 5000
WRITE_BATCH_CHARS = 4 * 1024 * 1024
HEAD_BATCH = 200
DATA_BATCH = 1000

NS_PER_US = 1000
Order = Literal["asc", "desc"]


def format_iceprod_time(ns: int) -> str:
    """IceProd's `%Y-%m-%dT%H:%M:%S.%f` in UTC, without a zone."""
    seconds, rest = divmod(ns, NS_PER_SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // NS_PER_US:06d}"


@dataclass(frozen=True)
class Entry:
    """An entry as read from its head line; `data` is read separately, piece by piece."""

    log_id: str
    timestamp_ns: int
    body: dict[str, Any]  # body fields other than data, log_id and timestamp, as given
    pieces: int
    first_piece: str

    def document(self) -> dict[str, Any]:
        """Every field of the entry except `data`."""
        return {"log_id": self.log_id, "timestamp": format_iceprod_time(self.timestamp_ns), **self.body}


def entry_labels(log_id: str, body: dict[str, Any]) -> dict[str, str]:
    labels = {**API_LABELS, LOG_ID_LABEL: log_id}
    labels.update({name: body[name] for name in LABELLED_FIELDS if isinstance(body.get(name), str)})
    return labels


def split_data(data: str, max_bytes: int) -> Iterator[tuple[str, bool]]:
    """(piece, continues the previous piece) for each text line of `data`, lazily."""
    start = 0
    while True:
        end = data.find("\n", start)
        line = data[start:] if end < 0 else data[start:end]
        for index, piece in enumerate(_slices(line, max_bytes)):
            yield piece, index > 0
        if end < 0:
            return
        start = end + 1


def _slices(line: str, max_bytes: int) -> Iterator[str]:
    """`line` cut into UTF-8 slices of at most max_bytes, never inside a character."""
    if len(line) * 4 <= max_bytes or len(raw := line.encode()) <= max_bytes:
        yield line
        return
    limit = max(max_bytes, 4)  # one character always fits
    start = 0
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and raw[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte
            end -= 1
        yield raw[start:end].decode()
        start = end


def entry_from_head(line: Line) -> Entry | None:
    """The entry a head line describes, or None when the line is not a well-formed head.

    Any writer of the native API can label lines as IceProd's, so stored heads are untrusted.
    """
    fields = line.fields or {}
    log_id, body_text, pieces = line.labels.get(LOG_ID_LABEL), fields.get(BODY_FIELD), fields.get(PIECES_FIELD)
    if not isinstance(log_id, str) or not isinstance(body_text, str) or type(pieces) is not int or pieces < 1:
        return None
    try:
        body = load_json(body_text, "a stored entry")
    except BadRequestError:
        return None
    if not isinstance(body, dict):
        return None
    own = {key: value for key, value in body.items() if key not in RESERVED_KEYS}
    return Entry(log_id, line.timestamp_ns, own, pieces, line.message)


class EntryStore:
    """Creates, finds, reads and deletes entries through the line writer, reader and registry."""

    def __init__(self, writer: LineWriter, reader: LineReader, registry: StreamRegistry, settings: Settings):
        self.writer = writer
        self.reader = reader
        self.registry = registry
        self.max_message_bytes = settings.max_message_bytes

    async def create(self, tenant: str, body: dict[str, Any], data: str) -> Entry:
        """Store a new entry, readable as soon as this returns."""
        log_id = uuid.uuid4().hex
        timestamp_ns = now_ns() // NS_PER_US * NS_PER_US  # what the IceProd format can show
        labels = entry_labels(log_id, body)
        digest = request_digest(tenant, log_id.encode())
        try:
            first, pieces = await self._write_pieces(tenant, labels, timestamp_ns, data, digest)
            head_fields = {HEAD_FIELD: "head", BODY_FIELD: orjson.dumps(body).decode(), PIECES_FIELD: pieces}
            head = LineIn(timestamp_ns, first, labels, 0, head_fields)
            await self._write(tenant, [(0, head)], digest, refresh=True)
        except LogriverError:
            await self._discard(tenant, log_id)
            raise
        return Entry(log_id, timestamp_ns, body, pieces, first)

    async def _write_pieces(
        self, tenant: str, labels: dict[str, str], timestamp_ns: int, data: str, digest: bytes
    ) -> tuple[str, int]:
        """Write every piece but the first, in bounded batches; returns the first and the count."""
        pieces = split_data(data, self.max_message_bytes)
        first, _ = next(pieces)
        batch: list[tuple[int, LineIn]] = []
        chars = 0
        count = 1
        for order_num, (text, continued) in enumerate(pieces, start=1):
            fields = {CONTINUED_FIELD: True} if continued else None
            batch.append((order_num, LineIn(timestamp_ns, text, labels, order_num, fields)))
            chars += len(text)
            count += 1
            if len(batch) >= WRITE_BATCH_LINES or chars >= WRITE_BATCH_CHARS:
                await self._write(tenant, batch, digest)
                batch, chars = [], 0
        await self._write(tenant, batch, digest)
        return first, count

    async def _write(self, tenant: str, lines: list[tuple[int, LineIn]], digest: bytes, refresh: bool = False) -> None:
        result = await self.writer.write_lines(tenant, lines, digest, refresh=refresh)
        if result.rejected:
            raise LogriverError(f"storage rejected a line of a log entry: {result.rejected[0].message}")

    async def _discard(self, tenant: str, log_id: str) -> None:
        # Best effort: without its head a partial entry is never listed, only its lines would remain.
        with contextlib.suppress(LogriverError):
            async for _ in self.registry.delete_lines(tenant, {**API_LABELS, LOG_ID_LABEL: log_id}):
                pass

    async def find(self, tenant: str, log_id: str, dataset_id: str | None = None) -> Entry | None:
        """The entry with this id (in this dataset when given), or None."""
        labels = {LOG_ID_LABEL: log_id}
        if dataset_id is not None:
            labels["dataset_id"] = dataset_id
        heads = await self.reader.slice(_heads_query(tenant, labels), "newer", None, 1)
        return entry_from_head(heads[0]) if heads else None

    async def entries(
        self,
        tenant: str,
        filters: dict[str, str],
        start_ns: int | None = None,
        end_ns: int | None = None,
        order: Order = "asc",
    ) -> AsyncIterator[Entry]:
        """Entries whose labels match `filters`, in timestamp order, window [start, end)."""
        query = _heads_query(tenant, filters, start_ns, end_ns)
        async for line in self.reader.iter_lines(query, order, batch=HEAD_BATCH):
            entry = entry_from_head(line)
            if entry is not None:
                yield entry

    async def data(self, tenant: str, entry: Entry) -> AsyncIterator[str]:
        """The entry's `data` as text chunks whose concatenation is exactly `data`."""
        if entry.pieces == 1:
            yield entry.first_piece
            return
        query = LineQuery(
            tenant, {**API_LABELS, LOG_ID_LABEL: entry.log_id}, entry.timestamp_ns, entry.timestamp_ns + 1
        )
        async for line in self.reader.iter_lines(query, "asc", batch=DATA_BATCH):
            if line.order_num and not (line.fields or {}).get(CONTINUED_FIELD):
                yield "\n"
            yield line.message

    async def count(self, tenant: str, filters: dict[str, str]) -> int:
        """How many entries match `filters`."""
        return await self.reader.count(_heads_query(tenant, filters))

    def delete(self, tenant: str, filters: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Delete the entries matching `filters`, yielding the registry's progress documents."""
        return self.registry.delete_lines(tenant, {**API_LABELS, **filters})


def _heads_query(
    tenant: str, filters: dict[str, str], start_ns: int | None = None, end_ns: int | None = None
) -> LineQuery:
    return LineQuery(tenant, {**API_LABELS, **filters}, start_ns, end_ns, fields={HEAD_FIELD: "head"})
