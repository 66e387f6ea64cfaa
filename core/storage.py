"""The Elasticsearch client's life cycle, readiness, and the translation of its errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import elastic_transport
from elasticsearch import ApiError, AsyncElasticsearch
from elasticsearch.serializer import OrjsonSerializer

from logriver.core.clock import Clock, ClockSample
from logriver.core.errors import (
    BadRequestError,
    InvalidQueryError,
    LogriverError,
    OverloadedError,
    StorageTimeoutError,
    StorageUnavailableError,
)
from logriver.core.esclient import client_options
from logriver.core.indices import IndexLayout, layout_of
from logriver.core.settings import Settings
from logriver.core.timeutil import NS_PER_MS, NS_PER_SECOND

log = logging.getLogger("logriver.storage")

CLOCK_SAMPLES = 3  # readings per alignment; the one with the shortest round trip is used
CLOCK_SYNC_SECONDS = 60.0  # how often a ready process re-reads the cluster's clock
CLOCK_LOG_NS = 50 * NS_PER_MS  # corrections that change by more than this are logged


@contextlib.contextmanager
def translate_es_errors(what: str, layout: IndexLayout | None = None) -> Iterator[None]:
    """Turn client exceptions into API errors: no answer → 503/504, bad query → 400, else 500."""
    try:
        yield
    except elastic_transport.ConnectionTimeout as exc:
        raise StorageTimeoutError(f"storage timed out while {what}; retry later") from exc
    except elastic_transport.ConnectionError as exc:
        raise StorageUnavailableError(f"storage is unreachable while {what}; retry later") from exc
    except elastic_transport.SerializationError as exc:
        # Nothing was sent: a value that came with the request cannot be written as JSON, and
        # retrying will not change that, so this is the client's 400, never a 503.
        raise BadRequestError(
            f"a value in the request cannot be stored or searched while {what}", type="unserializable_value"
        ) from exc
    except elastic_transport.TransportError as exc:
        raise LogriverError(f"storage client error while {what}") from exc
    except ApiError as exc:
        raise storage_error(exc.meta.status, exc.body, what, layout) from exc


# Elasticsearch's verdicts on a query's content (as opposed to on the cluster): the user's 400.
USER_QUERY_ERRORS = frozenset(
    {
        "query_shard_exception",
        "parse_exception",
        "parsing_exception",
        "x_content_parse_exception",
        "too_many_clauses",
        "too_many_nested_clauses",
        "too_many_buckets_exception",
        "illegal_argument_exception",
        "search_phase_execution_exception",
    }
)
# Verdicts on the cluster: a shard or index that cannot answer now. A search whose shards failed
# for these reasons is the reader's 503 whatever status Elasticsearch gave the whole answer
# (an "all shards failed" is a search_phase_execution_exception, like a bad query).
UNAVAILABLE_CAUSES = frozenset(
    {
        "no_shard_available_action_exception",
        "shard_not_found_exception",
        "index_closed_exception",
        "index_not_found_exception",
        "unavailable_shards_exception",
        "node_disconnected_exception",
        "node_not_connected_exception",
        "node_closed_exception",
        "connect_transport_exception",
        "receive_timeout_transport_exception",
        "send_request_transport_exception",
        "cluster_block_exception",
        "primary_missing_action_exception",
        "search_context_missing_exception",
        "task_cancelled_exception",
        "circuit_breaking_exception",
        "es_rejected_execution_exception",
    }
)
_MISSING_SHARD = re.compile(r"\[([^\[\]\s,]+)\]\[\d+\]")  # each "[index][0]" of "missing shards [[a][0], [b][1]]"


def storage_error(status: int, body: Any, what: str, layout: IndexLayout | None = None) -> LogriverError:
    """An error Elasticsearch answered (a whole request or one item of an msearch) as an API error."""
    if status == 429:
        return OverloadedError(f"storage is overloaded while {what}; retry later")
    causes = _causes(body)
    types = {str(c.get("type")) for c in causes}
    if status in (502, 503, 504) or types & UNAVAILABLE_CAUSES:
        return unavailable_error(unavailable_indices(body), what, layout)
    if status == 400 and types & USER_QUERY_ERRORS:
        return InvalidQueryError(f"the query cannot be run: {_reason(causes)}")
    return LogriverError(f"storage error while {what}")


def unavailable_error(indices: set[str], what: str, layout: IndexLayout | None) -> StorageUnavailableError:
    """A 503 naming what could not be read: the time buckets of the lines, or the stream registry."""
    names: set[str] = set()
    for index in indices:
        label = layout.bucket_label(index) if layout else None
        if label is not None:
            names.add(f"the lines of {label}")
        elif layout is not None and index == layout.streams_index:
            names.add("the stream registry")
    if not names:
        return StorageUnavailableError(f"storage is unavailable while {what}; retry later")
    listed = sorted(names)
    subject = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
    verb = "is" if len(listed) == 1 else "are"
    return StorageUnavailableError(
        f"{subject} {verb} unavailable while {what}: a shard holding them cannot answer (a node down or "
        "starting, or the index closed), and a partial answer would look complete; retry later",
        {"unavailable": listed},
    )


def unavailable_indices(body: Any) -> set[str]:
    """The indices an error or a shard-failure list says could not answer."""
    found: set[str] = set()
    for cause in _causes(body):
        if cause.get("type") in UNAVAILABLE_CAUSES and isinstance(cause.get("index"), str):
            found.add(cause["index"])
        found.update(_MISSING_SHARD.findall(str(cause.get("reason") or "")))
    return found


def _causes(body: Any) -> list[dict[str, Any]]:
    """Every cause an error body holds: root causes, shard failures' reasons and the caused_by chain."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return []
    causes: list[dict[str, Any]] = [c for c in error.get("root_cause") or [] if isinstance(c, dict)]
    node: Any = error
    while isinstance(node, dict):
        causes.append(node)
        for failure in node.get("failed_shards") or []:
            reason = failure.get("reason") if isinstance(failure, dict) else None
            if isinstance(reason, dict):
                causes.append({**reason, "index": reason.get("index", failure.get("index"))})
        node = node.get("caused_by")
    return causes


def _reason(causes: list[dict[str, Any]]) -> str:
    return str(causes[0].get("reason", "rejected")) if causes else "rejected"


@dataclass(frozen=True)
class Window:
    """The time a read may need lines from, [start, end) in ns; None is open on that side."""

    start_ns: int | None = None
    end_ns: int | None = None


# Every read of lines asks for all shards or nothing, and looks at the answer too. Both, because
# `allow_partial_search_results: false` makes Elasticsearch refuse a search when a shard has no
# active copy or fails in the query phase, but a 200 can still be short: a shard that runs out of
# time is reported as `timed_out`, not as failed, and an msearch item or a later phase reports
# its losses only in `_shards`. So an answer counts only when every shard answered or was
# `skipped`: skipped shards are answered ones, the can-match phase having proved that they hold
# nothing the query could match. Closed indices are expanded (not ignored) so that one inside
# the window is reported; `ignore_unavailable` would drop it without a word.
READ_OPTIONS: dict[str, Any] = {
    "allow_partial_search_results": False,
    "expand_wildcards": "open,closed",
    "ignore_unavailable": False,
    "allow_no_indices": True,
}
MAX_SKIP_ROUNDS = 8  # indices outside a window learnt per read (each failed attempt names one)


def check_complete(body: dict[str, Any], what: str, layout: IndexLayout | None) -> None:
    """Raise the reader's 503 unless every shard answered (or was skipped as holding nothing)."""
    shards = body.get("_shards") or {}
    total, failed = int(shards.get("total", 0)), int(shards.get("failed", 0))
    answered = int(shards.get("successful", total)) + int(shards.get("skipped", 0))
    if body.get("timed_out") or failed or answered < total:
        failures = [f for f in shards.get("failures") or [] if isinstance(f, dict)]
        raise unavailable_error({str(f["index"]) for f in failures if f.get("index")}, what, layout)


@dataclass
class Storage:
    """The client plus the layout and readiness that every storage module shares."""

    settings: Settings
    client: AsyncElasticsearch
    layout: IndexLayout
    clock: Clock = field(default_factory=Clock)
    ready: bool = False
    on_readiness: Callable[[bool], None] = field(default=lambda ready: None)  # told after every probe (metrics)
    _skippable: set[str] = field(default_factory=set, init=False)  # unreadable indices seen outside some window
    _prepared: set[str] = field(default_factory=set, init=False)  # lines indices known to exist, primaries started
    _clock_synced_at: float | None = field(default=None, init=False)  # monotonic time of the last alignment

    @classmethod
    def from_settings(cls, settings: Settings, es_url: str) -> Storage:
        client = AsyncElasticsearch(
            **client_options(settings, es_url),
            request_timeout=settings.es_timeout_seconds,
            max_retries=1,
            retry_on_timeout=False,
            serializer=OrjsonSerializer(),
        )
        return cls(settings, client, layout_of(settings), Clock(settings.clock_offset_ms))

    def require_ready(self) -> None:
        """Requests that need storage fail fast with 503 until templates are installed."""
        if not self.ready:
            raise StorageUnavailableError("storage is not ready yet; retry later")

    async def search(
        self, body: dict[str, Any], what: str, window: Window | None = None, index: str | None = None
    ) -> dict[str, Any]:
        """A complete search of the lines in `window` (or of `index`), else the reader's 503 naming the gap."""
        self.require_ready()
        for _ in range(MAX_SKIP_ROUNDS):
            target = index or self.lines_target(window or Window())
            with translate_es_errors(what, self.layout):
                try:
                    response = await self.client.search(index=target, **READ_OPTIONS, **body)
                except ApiError as exc:
                    if index is None and self.learn_skippable(exc.body, window or Window()):
                        continue
                    raise
            answer: dict[str, Any] = response.body
            check_complete(answer, what, self.layout)
            return answer
        raise unavailable_error(set(), what, self.layout)

    async def msearch(
        self, searches: list[tuple[dict[str, Any], Window]], what: str
    ) -> list[dict[str, Any] | LogriverError]:
        """Several searches of lines in one request; each yields its complete answer or its error."""
        self.require_ready()
        lines: list[dict[str, Any]] = []
        for body, window in searches:
            lines.extend(({"index": self.lines_target(window), **READ_OPTIONS}, body))
        with translate_es_errors(what, self.layout):
            response = await self.client.msearch(searches=lines)
        results: list[dict[str, Any] | LogriverError] = []
        for item, (_, window) in zip(response["responses"], searches, strict=True):
            if "error" in item:
                # An index outside the window is left out next time; this round is retried whole.
                self.learn_skippable(item, window)
                results.append(storage_error(int(item.get("status", 500)), item, what, self.layout))
                continue
            try:
                check_complete(item, what, self.layout)
                results.append(item)
            except LogriverError as error:
                results.append(error)
        return results

    def lines_target(self, window: Window) -> str:
        """The lines pattern, minus the indices known to be unreadable and to hold nothing of `window`."""
        skipped = sorted(name for name in self._skippable if not self._inside(name, window))
        return ",".join([self.layout.lines_pattern, *(f"-{name}" for name in skipped)])

    def learn_skippable(self, error_body: Any, window: Window) -> bool:
        """Whether every index an error names lies outside the window, now remembered as skippable.

        A closed, vanished or shardless index that cannot hold a line of the window (its bucket
        ended before it, starts after it, or retention deleted it) is no reason to fail a read;
        one inside the window is, and is reported.
        """
        named = unavailable_indices(error_body)
        if not named or any(self._inside(name, window) for name in named) or named <= self._skippable:
            return False
        self._skippable.update(named)
        return True

    def _inside(self, index: str, window: Window) -> bool:
        span = self.layout.bucket_span_seconds(index)
        if span is None:
            return True  # not a bucket of ours: it may hold anything
        now = self.clock.now_ns()
        start_ns = window.start_ns
        days = self.settings.retention_days
        if days > 0:
            kept_from = now - days * 86400 * NS_PER_SECOND
            start_ns = kept_from if start_ns is None else max(start_ns, kept_from)
        # No line lies further ahead than max_future_seconds: a bucket made ahead of time
        # (ingest/rollover.py) whose primary is still starting holds nothing yet.
        end_ns = now + self.settings.max_future_seconds * NS_PER_SECOND
        end_ns = end_ns if window.end_ns is None else min(end_ns, window.end_ns)
        after_start = start_ns is None or span[1] * NS_PER_SECOND > start_ns
        return after_start and span[0] * NS_PER_SECOND < end_ns

    def upcoming_indices(self, now_ns: int) -> list[str]:
        """The lines indices from now to the furthest future a line may carry, plus the lead time."""
        now = now_ns // NS_PER_SECOND
        ahead = self.settings.max_future_seconds + self.settings.index_create_ahead_seconds
        return self.layout.lines_indices_between(now, now + ahead)

    async def prepare_lines_indices(self, now_ns: int | None = None) -> list[str]:
        """Create (primaries started) the upcoming lines indices not made yet; returns those it created."""
        created = []
        for name in self.upcoming_indices(self.clock.now_ns() if now_ns is None else now_ns):
            if name in self._prepared:
                continue
            if await self.create_lines_index(name):
                created.append(name)
                log.info("created %s ahead of its first line", name)
            self._prepared.add(name)
        return created

    async def create_lines_index(self, name: str) -> bool:
        """Create a lines index from its template and wait until its primaries are active; False if it existed.

        Waiting matters as much as creating: from its creation on, a search across the lines
        pattern meets the new index, and a primary that has not started yet fails the search.
        """
        created = True
        with translate_es_errors("creating a lines index", self.layout):
            try:
                await self.client.indices.create(index=name, wait_for_active_shards="1")
            except ApiError as exc:
                if exc.meta.status != 400 or "resource_already_exists_exception" not in str(exc.body):
                    raise
                created = False  # another process (or the first line) was first; its primaries are waited for below
            await self.client.cluster.health(index=name, wait_for_status="yellow", timeout="30s")
        return created

    async def install_templates(self) -> None:
        """Create or update the index templates and the streams index (idempotent)."""
        with translate_es_errors("installing index templates"):
            for name, body in self.layout.templates().items():
                await self.client.indices.put_index_template(name=name, **body)
            if not await self.client.indices.exists(index=self.layout.streams_index):
                with contextlib.suppress(ApiError):  # lost a race with another instance: fine
                    await self.client.indices.create(index=self.layout.streams_index)
            else:  # a registry made by an earlier version gains the fields added since (additive only)
                await self.client.indices.put_mapping(index=self.layout.streams_index, properties=self._stream_fields())

    def _stream_fields(self) -> dict[str, Any]:
        template = self.layout.templates()[self.layout.streams_index]
        properties: dict[str, Any] = template["template"]["mappings"]["properties"]
        return properties

    async def apply_index_settings(self) -> list[str]:
        """Reinstall the templates and give existing indices the current dynamic settings."""
        await self.install_templates()
        with translate_es_errors("updating index settings"):
            found = await self.client.indices.get_settings(
                index=f"{self.layout.lines_pattern},{self.layout.streams_index}",
                allow_no_indices=True,
                ignore_unavailable=True,
                filter_path="*.settings.index.provided_name",
            )
            names = sorted(found.body) if isinstance(found.body, dict) else []
            if names:
                await self.client.indices.put_settings(index=",".join(names), settings=self.layout.dynamic_settings())
        return names

    async def check(self) -> bool:
        """One readiness probe: reachable, and templates installed once."""
        try:
            if not self.ready:
                await self.install_templates()
                await self.align_clock()  # before any write: a seq is a time on the cluster's clock
                await self._prepare_first_indices()
                self.ready = True
                log.info("storage ready at %s", self.layout.prefix)
            else:
                with translate_es_errors("probing storage"):
                    await self.client.cluster.health(timeout="2s")
                if self._clock_synced_at is None or time.monotonic() - self._clock_synced_at > CLOCK_SYNC_SECONDS:
                    await self.align_clock()
        except LogriverError as exc:
            if self.ready:
                log.warning("storage probe failed: %s", exc.message)
            self.ready = False
        self.on_readiness(self.ready)
        return self.ready

    async def _prepare_first_indices(self) -> None:
        """Before the first request: every index a line may need now exists with its primaries started.

        Later buckets are made by the rollover task while they cannot hold a line yet; these may,
        and a read meeting one while its primary starts would fail.
        """
        try:
            await self.prepare_lines_indices()
        except (StorageUnavailableError, StorageTimeoutError, OverloadedError):
            raise
        except LogriverError as exc:
            # A credential that may read but not create indices: serve; the first line creates its index.
            log.warning("cannot create the lines indices ahead of time: %s (%s)", exc.message, exc.__cause__)

    async def align_clock(self) -> None:
        """Measure this host's offset to the cluster's clock (node stats carry the node's time)."""
        samples: list[ClockSample] = []
        try:
            with translate_es_errors("reading the cluster's clock"):
                for _ in range(CLOCK_SAMPLES):
                    sent = self.clock.local_ns()
                    answer = await self.client.nodes.stats(
                        node_id="_local", metric="process", filter_path="nodes.*.timestamp"
                    )
                    received = self.clock.local_ns()
                    samples.extend(ClockSample(sent, received, int(n["timestamp"])) for n in answer["nodes"].values())
        except (StorageUnavailableError, StorageTimeoutError, OverloadedError):
            raise
        except LogriverError as exc:
            # A credential without the `monitor` cluster privilege cannot read node stats: serve
            # unaligned rather than never; the tail then relies on the hosts' own clocks (NTP).
            log.warning("cannot read the cluster's clock, keeping this host's: %s (%s)", exc.message, exc.__cause__)
        before = self.clock.correction_ns
        self.clock.align(samples)
        self._clock_synced_at = time.monotonic()
        if abs(self.clock.correction_ns - before) > CLOCK_LOG_NS:
            log.info(
                "clock aligned to the cluster: offset %+.1f ms (error within %.1f ms)",
                self.clock.correction_ns / NS_PER_MS,
                (self.clock.error_ns or 0) / NS_PER_MS,
            )

    async def watch_readiness(self) -> None:
        """Probe until ready, then keep probing so /readyz follows reality; never raises."""
        while True:
            await self.check()
            await asyncio.sleep(self.settings.readiness_interval_seconds)

    async def close(self) -> None:
        await self.client.close()
