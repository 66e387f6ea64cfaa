"""Lines in arrival order: the live tail's queries by `seq`, the only tail code that talks to Elasticsearch.

A *position* is a point in arrival order written like a `seq`: 16 hex digits of nanoseconds and
6 of writer node. `position_at(ns)` sorts after every seq allocated at or before `ns`, so
"seq > position" reads "arrived later".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from logriver.core.errors import LogriverError
from logriver.core.storage import Storage, translate_es_errors
from logriver.core.timeutil import NS_PER_SECOND, format_rfc3339_ns
from logriver.query.reader import LINE_SOURCE, Line, LineQuery, build_filter, hit_to_line, window_of

MAX_AHEAD_PARTS = 15  # per-node parts an event id may carry (a client would need to hop workers that fast)
POSITION_PATTERN = rf"^[0-9a-f]{{22}}(\.[0-9a-f]{{22}}){{0,{MAX_AHEAD_PARTS}}}$"
INGESTED_MARGIN_NS = 10 * NS_PER_SECOND  # a batch's seqs run a few µs past its ingested_at
_POSITION = re.compile(POSITION_PATTERN)
NODE_AT = 16  # a seq is 16 hex digits of time, then its writer's node


def position_at(ns: int) -> str:
    """The position just after every seq allocated at or before `ns`."""
    return f"{max(ns, 0):016x}ffffff"


def position_ns(position: str) -> int:
    return int(position[:16], 16)


def is_position(text: str) -> bool:
    return bool(_POSITION.match(text))


@dataclass(frozen=True)
class TailPosition:
    """A tail's resume point, written as an event id: `settled`, then `.`-joined `ahead` parts.

    `settled`: every line with a seq at or below it was sent. The shared poll reads lines in seq
    order only below its settled cut, so this part alone is the whole story for lines of other
    workers. `ahead`: per writer node, the largest seq of that node's lines sent before the cut
    passed them (a worker hands its own lines to its tails at once, core/handoff.py); every line
    of that node up to it was sent, since a worker hands its lines over in seq order without gaps.
    A part falls away once `settled` passes it, so ids are usually one plain seq.
    """

    settled: str
    ahead: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TailPosition:
        settled, *ahead = text.split(".")
        return cls(settled, tuple(ahead)).after_settled(settled)

    def text(self) -> str:
        return ".".join((self.settled, *self.ahead))

    def covers(self, seq: str) -> bool:
        """Whether a line with this seq was sent before this position."""
        node = seq[NODE_AT:]
        return seq <= self.settled or any(seq <= part for part in self.ahead if part[NODE_AT:] == node)

    def after_settled(self, seq: str) -> TailPosition:
        settled = max(self.settled, seq)
        return TailPosition(settled, tuple(part for part in self.ahead if part > settled))

    def after_ahead(self, seq: str) -> TailPosition:
        if seq <= self.settled:
            return self
        node = seq[NODE_AT:]
        ahead = [part for part in self.ahead if part[NODE_AT:] != node]
        mine = max([seq, *(part for part in self.ahead if part[NODE_AT:] == node)])
        # Past the limit the oldest part is dropped: a resume may then repeat a few of its lines.
        return TailPosition(self.settled, tuple(sorted([*ahead, mine]))[-MAX_AHEAD_PARTS:])


@dataclass(frozen=True)
class ArrivalScan:
    """Lines matching `query` with after < seq <= upto, minus `exclude_ids`, in seq order."""

    query: LineQuery
    after: str
    upto: str
    size: int
    exclude_ids: tuple[str, ...] = ()


def build_arrival_search(scan: ArrivalScan) -> dict[str, Any]:
    """The search body of one scan; raises InvalidQueryError for a bad q before any request."""
    filters = build_filter(scan.query)
    filters.append({"range": {"seq": {"gt": scan.after, "lte": scan.upto}}})
    # The writer stamps ingested_at with the time its seqs start from, so this bound is implied
    # by the seq range; it lets Elasticsearch skip indices that received nothing lately.
    if is_position(scan.after):
        since = max(position_ns(scan.after) - INGESTED_MARGIN_NS, 0)
        filters.append({"range": {"ingested_at": {"gte": format_rfc3339_ns(since)}}})
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if scan.exclude_ids:
        query["bool"]["must_not"] = [{"ids": {"values": list(scan.exclude_ids)}}]
    return {
        "query": query,
        "sort": [{"seq": {"order": "asc"}}],
        "size": scan.size,
        "_source": [*LINE_SOURCE, "seq"],
        "track_total_hits": False,
    }


def _arrival_line(hit: dict[str, Any]) -> Line:
    # The hit is sorted by seq alone, so its key comes from _source, not from the sort values.
    return hit_to_line({k: v for k, v in hit.items() if k != "sort"})


class ArrivalReader:
    """Runs arrival scans; counts its requests so tests can see that polling is shared."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.requests = 0  # Elasticsearch requests made for polls (one msearch per round)
        self.searches = 0  # searches inside those requests (one per group)
        self.catch_up_requests = 0  # searches made to catch a resumed tail up
        self.refreshes = 0  # refreshes made before poll rounds

    async def scan(self, scan: ArrivalScan) -> list[Line]:
        """One scan on its own: a resumed tail catching up to the shared poller."""
        body = build_arrival_search(scan)
        self.storage.require_ready()
        self.catch_up_requests += 1
        response = await self.storage.search(body, "catching up a tail", window_of(scan.query))
        return [_arrival_line(hit) for hit in response["hits"]["hits"]]

    async def refresh(self) -> None:
        """Make every line indexed so far searchable, in all lines indices (unchanged shards skip it)."""
        self.storage.require_ready()
        self.refreshes += 1
        with translate_es_errors("refreshing for the live tail"):
            await self.storage.client.indices.refresh(
                index=self.storage.layout.lines_pattern, ignore_unavailable=True, allow_no_indices=True
            )

    async def scan_many(self, scans: list[ArrivalScan]) -> list[list[Line] | LogriverError]:
        """All scans in one msearch; a failed (or incomplete) scan yields its error in place of lines."""
        searches = [(build_arrival_search(scan), window_of(scan.query)) for scan in scans]
        self.storage.require_ready()
        self.requests += 1
        self.searches += len(scans)
        results = await self.storage.msearch(searches, "polling for new lines")
        return [_scan_result(item) for item in results]


def _scan_result(item: dict[str, Any] | LogriverError) -> list[Line] | LogriverError:
    if isinstance(item, LogriverError):
        return item
    return [_arrival_line(hit) for hit in item["hits"]["hits"]]
