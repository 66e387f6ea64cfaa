"""The Elasticsearch client's life cycle, readiness, and the translation of its errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import elastic_transport
from elasticsearch import ApiError, AsyncElasticsearch
from elasticsearch.serializer import OrjsonSerializer

from logriver.core.errors import (
    BadRequestError,
    InvalidQueryError,
    LogriverError,
    OverloadedError,
    StorageTimeoutError,
    StorageUnavailableError,
)
from logriver.core.indices import IndexLayout
from logriver.core.settings import Settings

log = logging.getLogger("logriver.storage")


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
        if exc.meta.status == 429:
            raise OverloadedError(f"storage is overloaded while {what}; retry later") from exc
        if exc.meta.status in (502, 503, 504):
            raise StorageUnavailableError(f"storage is unavailable while {what}; retry later") from exc
        if exc.meta.status == 400 and _is_user_query_error(exc):
            raise InvalidQueryError(f"the query cannot be run: {_reason(exc)}") from exc
        raise LogriverError(f"storage error while {what}") from exc


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


def _is_user_query_error(exc: ApiError) -> bool:
    kinds = {c.get("type") for c in _root_causes(exc)}
    return bool(kinds & USER_QUERY_ERRORS)


def _root_causes(exc: ApiError) -> list[dict]:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return list(error.get("root_cause") or [error])


def _reason(exc: ApiError) -> str:
    causes = _root_causes(exc)
    return str(causes[0].get("reason", "rejected")) if causes else "rejected"


@dataclass
class Storage:
    """The client plus the layout and readiness that every storage module shares."""

    settings: Settings
    client: AsyncElasticsearch
    layout: IndexLayout
    ready: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, es_url: str) -> Storage:
        client = AsyncElasticsearch(
            es_url,
            request_timeout=settings.es_timeout_seconds,
            max_retries=1,
            retry_on_timeout=False,
            serializer=OrjsonSerializer(),
        )
        layout = IndexLayout(settings.index_prefix, settings.index_granularity, settings.index_refresh_interval)
        return cls(settings, client, layout)

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

    async def check(self) -> bool:
        """One readiness probe: reachable, and templates installed once."""
        try:
            if not self.ready:
                await self.install_templates()
                self.ready = True
                log.info("storage ready at %s", self.layout.prefix)
            else:
                with translate_es_errors("probing storage"):
                    await self.client.cluster.health(timeout="2s")
        except LogriverError as exc:
            if self.ready:
                log.warning("storage probe failed: %s", exc.message)
            self.ready = False
        return self.ready

    async def watch_readiness(self) -> None:
        """Probe until ready, then keep probing so /readyz follows reality; never raises."""
        while True:
            await self.check()
            await asyncio.sleep(self.settings.readiness_interval_seconds)

    async def close(self) -> None:
        await self.client.close()
