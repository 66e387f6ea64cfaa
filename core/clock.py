"""The arrival clock: this host's time, aligned to the Elasticsearch cluster's.

A line's `seq` (and a live tail's position) is a time on the clock of the process that
accepted it, and a tail on another process compares it with its own clock. Two hosts whose
clocks differ by a second would disagree on arrival order by that second: lines from the
slow host would look late to the fast one. Every process therefore reads the time of the
Elasticsearch node it talks to and corrects its own by the measured offset, so all writers
and tails share one clock, up to the measurement's error (half a round trip).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from logriver.core.timeutil import NS_PER_MS


@dataclass(frozen=True)
class ClockSample:
    """One reading of the cluster's clock: local times around the request, and the answer."""

    sent_ns: int
    received_ns: int
    remote_ms: int

    @property
    def round_trip_ns(self) -> int:
        return self.received_ns - self.sent_ns

    @property
    def offset_ns(self) -> int:
        """Remote minus local, with the remote reading placed mid-flight (its ms truncated, hence +0.5 ms)."""
        midpoint = (self.sent_ns + self.received_ns) // 2
        return self.remote_ms * NS_PER_MS + NS_PER_MS // 2 - midpoint


class Clock:
    """`now_ns()` for arrival order: local time + injected offset (tests) + measured correction."""

    def __init__(self, injected_offset_ms: int = 0):
        self.injected_ns = injected_offset_ms * NS_PER_MS  # simulates a host whose clock is off
        self.correction_ns = 0
        self.error_ns: int | None = None  # half the round trip of the sample in use; None: never aligned

    def local_ns(self) -> int:
        """This host's (possibly skewed) time, before correction."""
        return time.time_ns() + self.injected_ns

    def now_ns(self) -> int:
        return self.local_ns() + self.correction_ns

    def align(self, samples: list[ClockSample]) -> None:
        """Adopt the offset of the sample with the shortest round trip: it bounds the error best."""
        if not samples:
            return
        best = min(samples, key=lambda s: s.round_trip_ns)
        self.correction_ns = best.offset_ns
        self.error_ns = best.round_trip_ns // 2 + NS_PER_MS // 2
