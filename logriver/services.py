"""The services every API family calls, built once per application and handed to each family."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from logriver.adapters.escompat.bulk import BulkService
from logriver.adapters.iceprod_entries import EntryStore
from logriver.core.auth import TokenStore
from logriver.core.handoff import LocalArrivals
from logriver.core.metrics import Metrics
from logriver.core.settings import Settings
from logriver.core.storage import Storage
from logriver.ingest.intake import LineIntake
from logriver.ingest.registry import StreamRegistry
from logriver.ingest.retention import run_retention
from logriver.ingest.rollover import run_rollover
from logriver.ingest.writer import LineWriter
from logriver.query.arrivals import ArrivalReader
from logriver.query.cursor import TokenCodec
from logriver.query.pages import PageService
from logriver.query.reader import LineReader
from logriver.query.search import SearchService
from logriver.query.streams import StreamReader
from logriver.query.tail import TailHub
from logriver.query.textquery import parse_query


@dataclass(frozen=True)
class Services:
    """One instance of each service; families read what they need and never build their own."""

    settings: Settings
    tokens: TokenStore
    metrics: Metrics
    storage: Storage
    writer: LineWriter
    registry: StreamRegistry
    reader: LineReader
    pages: PageService
    search: SearchService
    streams: StreamReader
    tail_hub: TailHub
    entries: EntryStore
    bulk: BulkService
    intake: LineIntake  # lines of the foreign write protocols (OTLP, Loki push)


# On every family's application, so handlers reach the services without importing another family.
SERVICES = web.AppKey("services", Services)


def build_services(settings: Settings, tokens: TokenStore, es_url: str) -> Services:
    """Every service over one storage client; nothing connects until `services_ctx` runs."""
    metrics = Metrics()
    storage = Storage.from_settings(settings, es_url)
    storage.on_readiness = lambda ready: metrics.storage_ready.set(int(ready))
    # The write path tells this process's tails when its own lines are stored (core/handoff.py).
    handoff = LocalArrivals()
    writer, registry = LineWriter(storage, metrics, handoff), StreamRegistry(storage, parse_query)
    reader = LineReader(storage, settings.contains_max_scanned_lines)
    # Without a configured secret, tokens are good for this process only (cli.py warns).
    codec = TokenCodec(settings.token_secret or secrets.token_hex(32))
    return Services(
        settings=settings,
        tokens=tokens,
        metrics=metrics,
        storage=storage,
        writer=writer,
        registry=registry,
        reader=reader,
        pages=PageService(reader, codec),
        search=SearchService(reader, codec, settings.search_max_total),
        streams=StreamReader(storage, codec),
        tail_hub=TailHub(ArrivalReader(storage), settings, metrics, handoff),
        entries=EntryStore(writer, reader, registry, settings),
        bulk=BulkService(writer, settings),
        intake=LineIntake(writer, settings, metrics),
    )


def services_ctx(services: Services) -> Callable[[web.Application], AsyncIterator[None]]:
    """Open storage and start the background work on start-up; stop them in reverse on clean-up."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        storage = services.storage
        await storage.check()  # ready at once when Elasticsearch is up; else the watcher recovers
        tasks = [
            asyncio.create_task(storage.watch_readiness()),
            asyncio.create_task(run_retention(storage)),
            asyncio.create_task(run_rollover(storage)),
        ]
        services.tail_hub.start()
        yield
        await services.tail_hub.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await storage.close()

    return run
