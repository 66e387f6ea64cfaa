"""The Elasticsearch client's life cycle, readiness, and the translation of its errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from logriver.core.timeutil import NS_PER_MS

log = logging.getLogger("logriver.storage")

CLOCK_SAMPLES = 3  # readings per alignment; the one with the shortest round trip is used
CLOCK_SYNC_SECONDS = 60.0  # how often a ready process re-reads the cluster's clock
CLOCK_LOG_NS = 50 * NS_PER_MS  # corrections that change by more than this are logged


@contextlib.contextmanager
def translate_es_errors(what: str) -> Iterator[None]:
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
        raise storage_error(exc.meta.status, exc.body, what) from exc


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


def storage_error(status: int, body: Any, what: str) -> LogriverError:
    """An error Elasticsearch answered (a whole request or one item of an msearch) as an API error."""
    if status == 429:
        return OverloadedError(f"storage is overloaded while {what}; retry later")
    if status in (502, 503, 504):
        return StorageUnavailableError(f"storage is unavailable while {what}; retry later")
    causes = _root_causes(body)
    if status == 400 and {c.get("type") for c in causes} & USER_QUERY_ERRORS:
        return InvalidQueryError(f"the query cannot be run: {_reason(causes)}")
    return LogriverError(f"storage error while {what}")


def _root_causes(body: Any) -> list[dict[str, Any]]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return []
    return list(error.get("root_cause") or [error])


def _reason(causes: list[dict[str, Any]]) -> str:
    return str(causes[0].get("reason", "rejected")) if causes else "rejected"


@dataclass
class Storage:
    """The client plus the layout and readiness that every storage module shares."""

    settings: Settings
    client: AsyncElasticsearch
    layout: IndexLayout
    clock: Clock = field(default_factory=Clock)
    ready: bool = False
    on_readiness: Callable[[bool], None] = field(default=lambda ready: None)  # told after every probe (metrics)
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
