"""Answers LogQL over the read path: Elasticsearch narrows (tenant, labels, streams, window and the
words of `|=` filters as a prefilter), then every stage runs here exactly on each line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from logriver.adapters.loki.logql_ast import (
    BinaryOp,
    LineFilter,
    LineFormatStage,
    LogQuery,
    MetricExpr,
    RangeAgg,
    Selector,
    VectorAgg,
)
from logriver.adapters.loki.logql_lexer import LogQLError
from logriver.adapters.loki.logql_metrics import LabelKey, SampleSet, Scalar, Series, evaluate, label_key
from logriver.adapters.loki.logql_pipeline import ERROR_LABEL, build_pipeline, selector_matches
from logriver.core.settings import Settings
from logriver.core.streams import StreamInfo
from logriver.query.cursor import Direction, SortKey
from logriver.query.reader import Line, LineQuery, LineReader
from logriver.query.streams import MAX_MATCHED_STREAMS, StreamReader

LokiDirection = Literal["forward", "backward"]
SCAN_BATCH = 5000


@dataclass(frozen=True)
class Entry:
    timestamp_ns: int
    line: str
    labels: dict[str, str]
    key: SortKey
    line_id: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)


class LimitError(LogQLError):
    type = "bad_data"


class LogQLEngine:
    """Runs parsed LogQL for one tenant at a time; stateless between queries."""

    def __init__(self, reader: LineReader, streams: StreamReader, settings: Settings):
        self.reader = reader
        self.streams = streams
        self.max_series = settings.loki_max_series
        self.max_scanned = settings.loki_max_scanned_lines

    async def matching_streams(self, tenant: str, selector: Selector) -> list[StreamInfo]:
        """The tenant's registered streams the selector matches (labels checked with RE2 here)."""
        candidates = await self.streams.registered(tenant, _equalities(selector), MAX_MATCHED_STREAMS)
        if len(candidates) >= MAX_MATCHED_STREAMS:
            raise LimitError(
                f"the selector matches {MAX_MATCHED_STREAMS} streams or more before its regular expressions apply; "
                "add an equality matcher",
                {"max_streams": MAX_MATCHED_STREAMS},
            )
        return [s for s in candidates if selector_matches(selector, s.labels)]

    async def line_query(self, tenant: str, log: LogQuery, start_ns: int, end_ns: int) -> LineQuery | None:
        """The storage query that narrows `log` to a superset of its lines; None when no stream matches."""
        eq = _equalities(log.selector)
        stream_ids = None
        if len(eq) != len(log.selector.matchers):
            matched = await self.matching_streams(tenant, log.selector)
            if not matched:
                return None
            stream_ids = tuple(sorted(s.stream_id for s in matched))
        return LineQuery(
            tenant=tenant, labels=eq, start_ns=start_ns, end_ns=end_ns, stream_ids=stream_ids, substrings=_words(log)
        )

    async def entries(
        self, tenant: str, log: LogQuery, window: tuple[int, int], limit: int, direction: LokiDirection
    ) -> list[Entry]:
        """Up to `limit` lines in [start, end) after the pipeline, newest first for `backward`."""
        query = await self.line_query(tenant, log, *window)
        if query is None:
            return []
        pipeline = build_pipeline(log)
        out: list[Entry] = []
        # Storage has already narrowed the lines; a few more than the limit usually suffice.
        batch = min(SCAN_BATCH, limit + limit // 10 + 10)
        async for line in self._scan(query, "newer" if direction == "forward" else "older", batch):
            if not selector_matches(log.selector, line.labels):
                continue
            result = pipeline(line.labels, line.message, line.fields)
            if result is not None:
                out.append(Entry(line.timestamp_ns, result[1], result[0], line.key, line.id, line.fields))
                if len(out) >= limit:
                    break
        return out

    async def _scan(self, query: LineQuery, direction: Direction, batch: int) -> AsyncIterator[Line]:
        """Lines in order, in batches that double up to SCAN_BATCH while more are wanted."""
        after: SortKey | None = None
        scanned = 0
        while True:
            lines = await self.reader.slice(query, direction, after, batch)
            for line in lines:
                yield line
            scanned += len(lines)
            if len(lines) < batch:
                return
            if scanned >= self.max_scanned:
                raise self._scan_limit()
            after = lines[-1].key
            batch = min(batch * 2, SCAN_BATCH)

    def _scan_limit(self) -> LimitError:
        return LimitError(
            f"the query reads more than {self.max_scanned} lines (LOGRIVER_LOKI_MAX_SCANNED_LINES); "
            "narrow the selector, add a line filter or shorten the time range",
            {"max_scanned_lines": self.max_scanned},
        )

    async def message_bytes(self, query: LineQuery) -> int:
        """UTF-8 bytes of the messages of every line `query` matches (read, so bounded like a query)."""
        if await self.reader.count(query) > self.max_scanned:
            raise self._scan_limit()
        total = 0
        async for line in self._scan(query, "newer", SCAN_BATCH):
            total += len(line.message.encode())
        return total

    async def metric(self, tenant: str, expr: MetricExpr, steps: list[int]) -> Series | Scalar:
        """`expr` at every step; each range aggregation reads its lines once."""
        samples = {agg: await self._samples(tenant, agg, steps) for agg in _range_aggs(expr)}
        result = evaluate(expr, steps, samples)
        if not isinstance(result, Scalar) and len(result) > self.max_series:
            raise self._series_limit()
        return result

    async def _samples(self, tenant: str, agg: RangeAgg, steps: list[int]) -> dict[LabelKey, SampleSet]:
        if not steps:
            return {}
        # A step t sees (t - range, t]: the lines of [first - range + 1ns, last + 1ns).
        query = await self.line_query(tenant, agg.log, steps[0] - agg.range_ns + 1, steps[-1] + 1)
        if query is None:
            return {}
        if await self.reader.count(query) > self.max_scanned:
            raise self._scan_limit()
        pipeline = build_pipeline(agg.log)
        series: dict[LabelKey, SampleSet] = defaultdict(lambda: SampleSet([], []))
        async for line in self._scan(query, "newer", SCAN_BATCH):
            if not selector_matches(agg.log.selector, line.labels):
                continue
            result = pipeline(line.labels, line.message, line.fields)
            if result is None:
                continue
            labels, text = result
            if ERROR_LABEL in labels:
                raise LogQLError(
                    f"pipeline error: {labels[ERROR_LABEL]} on a line of {_render(line.labels)}; "
                    'filter such lines with | __error__="" or remove the label with | drop __error__',
                    {"error_label": labels[ERROR_LABEL]},
                )
            sample = series[label_key(labels)]
            sample.timestamps.append(line.timestamp_ns)
            sample.sizes.append(len(text.encode()))
            if len(series) > self.max_series:
                raise self._series_limit()
        return dict(series)

    def _series_limit(self) -> LimitError:
        return LimitError(
            f"maximum of series ({self.max_series}) reached for a single query (LOGRIVER_LOKI_MAX_SERIES); "
            "aggregate with sum by (...) or narrow the selector",
            {"max_series": self.max_series},
        )


def _equalities(selector: Selector) -> dict[str, str]:
    """The `name="value"` matchers storage can apply as exact label terms (non-empty, one per name)."""
    eq: dict[str, str] = {}
    names = [m.name for m in selector.matchers]
    for matcher in selector.matchers:
        if matcher.op == "=" and matcher.value and names.count(matcher.name) == 1:
            eq[matcher.name] = matcher.value
    return eq


def _words(log: LogQuery) -> tuple[str, ...]:
    """`|=` needles storage can prefilter on: those before any line_format rewrites the line."""
    words: list[str] = []
    for stage in log.stages:
        if isinstance(stage, LineFormatStage):
            break
        if isinstance(stage, LineFilter) and stage.op == "|=" and len(stage.values) == 1:
            words.append(stage.values[0])
    return tuple(words[:8])


def _range_aggs(expr: MetricExpr) -> list[RangeAgg]:
    if isinstance(expr, RangeAgg):
        return [expr]
    if isinstance(expr, VectorAgg):
        return _range_aggs(expr.inner)
    if isinstance(expr, BinaryOp):
        return _range_aggs(expr.left) + _range_aggs(expr.right)
    return []


def _render(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
