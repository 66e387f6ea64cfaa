"""Retention: whole indices whose time bucket ended before the retention period are deleted."""

from __future__ import annotations

import asyncio
import logging

from logriver.core.errors import LogriverError
from logriver.core.storage import Storage, translate_es_errors
from logriver.core.timeutil import NS_PER_SECOND, now_ns

log = logging.getLogger("logriver.retention")


async def expired_indices(storage: Storage, now: int | None = None) -> list[str]:
    """Lines indices whose whole bucket is older than the retention period."""
    days = storage.settings.retention_days
    if days <= 0:
        return []
    cutoff_seconds = ((now_ns() if now is None else now) // NS_PER_SECOND) - days * 86400
    with translate_es_errors("listing indices"):
        found = await storage.client.indices.get(index=storage.layout.lines_pattern, ignore_unavailable=True)
    expired = []
    for name in sorted(found):
        end = storage.layout.bucket_end_seconds(name)
        if end is not None and end <= cutoff_seconds:
            expired.append(name)
    return expired


async def delete_expired(storage: Storage, now: int | None = None) -> list[str]:
    """Delete expired indices one by one (never by wildcard) and return their names."""
    names = await expired_indices(storage, now)
    for name in names:
        with translate_es_errors("deleting an expired index"):
            await storage.client.indices.delete(index=name, ignore_unavailable=True)
        log.info("retention deleted %s", name)
    return names


async def run_retention(storage: Storage) -> None:
    """Background loop; a failed round is logged and tried again next interval."""
    while True:
        if storage.ready:
            try:
                await delete_expired(storage)
            except LogriverError as exc:
                log.warning("retention round failed: %s", exc.message)
        await asyncio.sleep(storage.settings.retention_interval_seconds)
