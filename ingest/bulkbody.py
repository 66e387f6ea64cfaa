"""The bytes of one bulk request's line documents, built in one pass from per-request parts.

A stored line is `writer._line_document` serialised. Building that dict and serialising it for
every line cost more than anything else on the write path, while most of its bytes are the same
for every line of a stream (labels, stream id, tenant, arrival time) and the time's text is the
same up to the seconds for every line of a minute. So those parts are serialised once per request, and each line
adds only its own: time, seq, message and fields. tests/ingest/test_bulkbody.py checks the bytes
equal `orjson.dumps(_line_document(...))` on generated lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from logriver.core.streams import stream_id
from logriver.core.timeutil import NS_PER_SECOND, format_rfc3339_ns

NS_PER_MINUTE = 60 * NS_PER_SECOND


@dataclass
class StreamRecord:
    """One stream of a request, for its registry record: labels as first seen, newest line time."""

    sid: str
    labels: dict[str, str]
    newest_ns: int = 0


@dataclass(frozen=True)
class StreamParts:
    """What every line with one labels dict (keys in one order) shares in a request."""

    record: StreamRecord
    tail: bytes  # the document from `,"labels"` through `ingested_at`, unclosed


class BulkBody:
    """Line documents and create actions for one request; streams and seconds are looked up once."""

    def __init__(self, tenant: str, ingested: str, node: str, index_of: Callable[[int], str]) -> None:
        self.tenant = tenant
        self._node = node.encode()
        self._index_of = index_of
        self._shared = b',"tenant":%s,"ingested_at":"%s"' % (orjson.dumps(tenant), ingested.encode())
        self.streams: dict[str, StreamRecord] = {}
        self._by_object: dict[int, StreamParts] = {}  # lines of one stream often share a labels dict
        self._by_items: dict[tuple[tuple[str, str], ...], StreamParts] = {}
        self._minutes: dict[int, tuple[bytes, bytes]] = {}

    def stream(self, labels: dict[str, str]) -> StreamParts:
        """The stream of `labels` (kept alive by the caller's lines, so their ids stay unique)."""
        parts = self._by_object.get(id(labels))
        if parts is not None:
            return parts
        key = tuple(labels.items())
        parts = self._by_items.get(key)
        if parts is None:
            # Keys in another order are the same stream, but each line keeps its own order.
            sid = stream_id(self.tenant, labels)
            record = self.streams.get(sid) or self.streams.setdefault(sid, StreamRecord(sid, labels))
            tail = b',"labels":%s,"stream_id":"%s"%s' % (orjson.dumps(labels), sid.encode(), self._shared)
            parts = self._by_items[key] = StreamParts(record, tail)
        self._by_object[id(labels)] = parts
        return parts

    def action(self, timestamp_ns: int, doc_id: str) -> bytes:
        # Index names (a validated prefix plus a date) and ids (hex, url-safe base64) never need JSON escaping.
        return b'%s"_id":"%s"}}' % (self._minute(timestamp_ns // NS_PER_MINUTE)[0], doc_id.encode())

    def document(  # noqa: PLR0917 - one call per line: positional, no packing
        self,
        stream: StreamParts,
        timestamp_ns: int,
        order_num: int | None,
        seq: int,
        message: str,
        fields: dict[str, object] | None,
    ) -> bytes:
        minute, nanos = divmod(timestamp_ns, NS_PER_MINUTE)
        second, nanos = divmod(nanos, NS_PER_SECOND)
        extra = b',"fields":%s}' % orjson.dumps(fields) if fields else b"}"
        return b'{"@timestamp":"%s%02d%s","order_num":%d,"seq":"%016x%s","message":%s%s%s' % (
            self._minute(minute)[1],
            second,
            _fraction(nanos),
            order_num or 0,
            seq,
            self._node,
            orjson.dumps(message),
            stream.tail,
            extra,
        )

    def _minute(self, minute: int) -> tuple[bytes, bytes]:
        """The create action's start (its index) and the time's text up to its seconds, for one minute.

        Per minute, not per second: the lines of a batch are more often seconds apart than not.
        """
        known = self._minutes.get(minute)
        if known is None:
            index = self._index_of(minute * NS_PER_MINUTE)
            text = format_rfc3339_ns(minute * NS_PER_MINUTE)[:-3]  # without its seconds and "Z"
            known = self._minutes[minute] = (b'{"create":{"_index":"%s",' % index.encode(), text.encode())
        return known


def _fraction(nanos: int) -> bytes:
    """The fraction of a second as `format_rfc3339_ns` prints it (its precision), with the "Z"."""
    if nanos == 0:
        return b"Z"
    if nanos % 1_000_000 == 0:
        return b".%03dZ" % (nanos // 1_000_000)
    if nanos % 1000 == 0:
        return b".%06dZ" % (nanos // 1000)
    return b".%09dZ" % nanos
