"""Rollover: each time bucket's lines index exists, its primaries started, before a line needs it.

Reads take every shard or nothing (core/storage.py), and a search across the lines pattern
meets a new index from the moment it is created, while its primary is still starting (some
100 ms to a few seconds). Left to the first line of an hour or day, every rollover would make
the reads of that moment fail. So a background task creates the buckets from now to the
furthest future a line may carry (LOGRIVER_MAX_FUTURE_SECONDS) plus
LOGRIVER_INDEX_CREATE_AHEAD_SECONDS, and waits for their primaries. A bucket made that way
cannot hold a line yet, so a read that meets it while it starts leaves it out
(core/storage.py). The buckets that may already hold lines, a fresh install's first index
among them, are made before storage is ready (`Storage.check`). Late lines that open a bucket in the past
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


def seconds_to_next_round(storage: Storage, now_ns: int) -> float:
    """Until the next bucket enters the horizon, at most CHECK_SECONDS."""
    names = storage.upcoming_indices(now_ns)
    horizon_end = names[-1] if names else None
    end = storage.layout.bucket_end_seconds(horizon_end) if horizon_end else None
    settings = storage.settings
    if end is None:
        return CHECK_SECONDS
    enters_at = end - settings.max_future_seconds - settings.index_create_ahead_seconds
    return min(max(enters_at - now_ns / NS_PER_SECOND, 0.05), CHECK_SECONDS)


async def run_rollover(storage: Storage) -> None:
    """Background loop; a failed round is logged and tried again soon (a write still creates its index)."""
    while True:
        pause = 0.2
        if storage.ready:
            try:
                await storage.prepare_lines_indices()
                pause = seconds_to_next_round(storage, storage.clock.now_ns())
            except LogriverError as exc:
                log.warning("creating the upcoming lines indices failed: %s", exc.message)
                pause = RETRY_SECONDS
        await asyncio.sleep(pause)
