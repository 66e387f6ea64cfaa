"""Rollover: each time bucket's lines index exists, its primaries started, before a line needs it.

Reads take every shard or nothing (core/storage.py), and a search across the lines pattern
meets a new index from the moment it is created, while its primary is still starting (some
100 ms to a few seconds). Left to the first line of an hour or day, every rollover would make
the reads of that moment fail. So a background task creates the buckets from now to the
furthest future a line may carry (LOGRIVER_MAX_FUTURE_SECONDS) plus
LOGRIVER_INDEX_CREATE_AHEAD_SECONDS, and waits for their primaries; on a fresh install its
first round makes the first index the same way. Late lines that open a bucket in the past
still create theirs on write; a read that meets such an index while it starts answers 503.
"""

from __future__ import annotations

import asyncio
import logging

from logriver.core.errors import LogriverError
from logriver.core.storage import Storage
from logriver.core.timeutil import NS_PER_SECOND

log = logging.getLogger("logriver.rollover")

CHECK_SECONDS = 60.0  # longest pause between rounds, so a jump of the clock is caught up soon
RETRY_SECONDS = 5.0  # pause after a failed round


def upcoming_indices(storage: Storage, now_ns: int) -> list[str]:
    """The lines indices a line may be written to from now until the end of the horizon."""
    settings = storage.settings
    now = now_ns // NS_PER_SECOND
    return storage.layout.lines_indices_between(
        now, now + settings.max_future_seconds + settings.index_create_ahead_seconds
    )


async def create_upcoming(storage: Storage, known: set[str], now_ns: int | None = None) -> list[str]:
    """Create (and wait for) the upcoming indices not known to exist; returns those it created."""
    created = []
    for name in upcoming_indices(storage, storage.clock.now_ns() if now_ns is None else now_ns):
        if name in known:
            continue
        if await storage.create_lines_index(name):
            created.append(name)
            log.info("created %s ahead of its first line", name)
        known.add(name)
    return created


def seconds_to_next_round(storage: Storage, now_ns: int) -> float:
    """Until the next bucket enters the horizon, at most CHECK_SECONDS."""
    names = upcoming_indices(storage, now_ns)
    horizon_end = names[-1] if names else None
    end = storage.layout.bucket_end_seconds(horizon_end) if horizon_end else None
    settings = storage.settings
    if end is None:
        return CHECK_SECONDS
    enters_at = end - settings.max_future_seconds - settings.index_create_ahead_seconds
    return min(max(enters_at - now_ns / NS_PER_SECOND, 0.05), CHECK_SECONDS)


async def run_rollover(storage: Storage) -> None:
    """Background loop; a failed round is logged and tried again soon (a write still creates its index)."""
    known: set[str] = set()
    while True:
        pause = 0.2
        if storage.ready:
            try:
                await create_upcoming(storage, known)
                pause = seconds_to_next_round(storage, storage.clock.now_ns())
            except LogriverError as exc:
                log.warning("creating the upcoming lines indices failed: %s", exc.message)
                pause = RETRY_SECONDS
        await asyncio.sleep(pause)
