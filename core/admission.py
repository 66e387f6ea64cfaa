"""Admission control: a bound on the request bytes the service parses and writes at once.

A request's memory grows with its body (parsed objects, documents held for the bulk call and its
retries), so bounding the bytes admitted at once bounds the memory of every write route, whatever
the number of writers. A request that does not fit waits a short while for room, then gets 429
with Retry-After: the client keeps its lines and sends them again, so nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from logriver.core.errors import OverloadedError
from logriver.core.memory import release_free_memory
from logriver.core.metrics import Metrics


@dataclass
class Reservation:
    """The bytes one request holds; released once, when its response is done."""

    size: int = 0


class Admission:
    """A budget of in-flight request bytes shared by every write route of one process."""

    def __init__(self, budget_bytes: int, wait_seconds: float, metrics: Metrics):
        self.metrics = metrics
        self.budget_bytes = budget_bytes
        self.wait_seconds = wait_seconds
        self.in_flight = 0
        self.peak = 0
        self._since_trim = 0  # bytes admitted since the heap was last trimmed
        self._room = asyncio.Condition()

    async def reserve(self, reservation: Reservation, size: int) -> None:
        """Add `size` bytes to `reservation`, waiting up to wait_seconds for room; else 429."""
        if self._fits(size):
            self._take(reservation, size)
            return
        async with self._room:
            try:
                await asyncio.wait_for(self._room.wait_for(lambda: self._fits(size)), self.wait_seconds)
            except TimeoutError:
                self.metrics.admission_refused.inc()
                raise self._refusal() from None
            self._take(reservation, size)

    async def release(self, reservation: Reservation) -> None:
        if not reservation.size:
            return
        self.in_flight -= reservation.size
        self.metrics.admission_in_flight.set(self.in_flight)
        reservation.size = 0
        if self.in_flight == 0 and self._since_trim >= self.budget_bytes:
            # Idle after at least a budget's worth of writes: the freed heap can go back.
            self._since_trim = 0
            release_free_memory()
        async with self._room:
            self._room.notify_all()

    def _fits(self, size: int) -> bool:
        # A lone request is always admitted: max_request_bytes, not this budget, bounds its size.
        return self.in_flight == 0 or self.in_flight + size <= self.budget_bytes

    def _take(self, reservation: Reservation, size: int) -> None:
        reservation.size += size
        self.in_flight += size
        self.metrics.admission_in_flight.set(self.in_flight)
        self._since_trim += size
        self.peak = max(self.peak, self.in_flight)

    def _refusal(self) -> OverloadedError:
        return OverloadedError(
            f"logriver is already parsing and writing {self.budget_bytes} bytes of requests "
            "(LOGRIVER_MAX_INFLIGHT_BYTES); nothing of this request was stored: send it again after "
            "Retry-After seconds",
            {"limit": "max_inflight_bytes", "max_inflight_bytes": self.budget_bytes},
        )
