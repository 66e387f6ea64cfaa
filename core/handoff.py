"""The write path's hand-off to the live tail: which of this process's own lines are stored.

The tail's shared poll reads a line only once it is `tail_settle_seconds` old, because it cannot
know when another process's bulk request finished. This process can know it for its own lines:
the writer reports every write that reserves seqs (`writing`), and `complete_upto` is the largest
seq of this process's node below which every write has returned. Those lines are stored (or
failed for good), so after one refresh the tail may read them at once, in seq order, with no
settle time. The tail wakes up (`listen`) when a write returns, instead of waiting for its round.

It hands over a bound, not the lines: the tail still reads them from Elasticsearch with its own
filters (tenant, labels, q), so the write path never has to know what a tail matches. With the
bound go the streams a write touched (`Write.streams`): each early round refreshes the lines
indices, which costs Elasticsearch a segment per refresh, so the tail only starts one for a
write that one of its filters could match.
`ingest/` reports, `query/` reads; this module imports neither.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WrittenStream:
    """One stream a write stored lines in: what a tail filter on streams can tell apart."""

    tenant: str
    stream_id: str
    labels: Mapping[str, str]


@dataclass
class Write:
    """What one write reports to the listeners when it returns; no streams means it stored none."""

    streams: list[WrittenStream] = field(default_factory=list)

    def stored_in(self, tenant: str, stream_id: str, labels: Mapping[str, str]) -> None:
        self.streams.append(WrittenStream(tenant, stream_id, labels))


class LocalArrivals:
    """In-flight writes of this process, as the seqs they may have reserved."""

    def __init__(self) -> None:
        self.node = ""  # the writer's seq suffix; "" until a writer attaches
        self._last: Callable[[], int] = lambda: 0  # the largest seq time the writer has reserved
        self._open: dict[int, int] = {}  # write -> the largest seq time reserved before it began
        self._tokens = itertools.count()
        self._listeners: list[Callable[[Write], None]] = []

    def attach(self, node: str, last_reserved: Callable[[], int]) -> None:
        """The writer's node and a view of its allocator (called once, when the writer is built)."""
        self.node, self._last = node, last_reserved

    def listen(self, callback: Callable[[Write], None]) -> None:
        """`callback(write)` runs (in the event loop, without blocking) each time a write returns."""
        self._listeners.append(callback)

    @contextmanager
    def writing(self) -> Iterator[Write]:
        """Around a write: its seqs, all reserved inside, are in flight until it returns or raises.

        The writer notes in the `Write` it is given each stream it sends lines to.

        Seqs only grow, so a write that began after `last` was reserved holds seqs above it.
        Entering and reserving run in the event loop's thread, as does `complete_upto`.
        """
        token = next(self._tokens)
        self._open[token] = self._last()
        write = Write()
        try:
            yield write
        finally:
            del self._open[token]
            for callback in self._listeners:
                callback(write)

    def complete_upto(self) -> int:
        """A seq time T: every seq of this node at or below T belongs to a write that has returned."""
        return min(self._open.values()) if self._open else self._last()
