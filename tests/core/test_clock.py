"""The arrival clock's arithmetic: offsets from readings of the cluster's clock."""

from __future__ import annotations

from logriver.core.clock import Clock, ClockSample
from logriver.core.timeutil import NS_PER_MS, NS_PER_SECOND


def test_offset_places_the_remote_reading_mid_flight():
    sample = ClockSample(sent_ns=10 * NS_PER_SECOND, received_ns=10 * NS_PER_SECOND + 4 * NS_PER_MS, remote_ms=11_002)
    # Local midpoint is 10.002 s; the remote 11.002 s reading stands for 11.0025 s on average.
    assert sample.offset_ns == NS_PER_SECOND + NS_PER_MS // 2
    assert sample.round_trip_ns == 4 * NS_PER_MS


def test_align_uses_the_sample_with_the_shortest_round_trip():
    clock = Clock()
    slow = ClockSample(0, 400 * NS_PER_MS, 5_000)  # large round trip: its offset is the least certain
    quick = ClockSample(0, 2 * NS_PER_MS, 1_001)
    clock.align([slow, quick])
    assert clock.correction_ns == quick.offset_ns
    assert clock.error_ns == NS_PER_MS + NS_PER_MS // 2


def test_an_injected_offset_is_cancelled_by_alignment():
    clock = Clock(injected_offset_ms=-1000)
    assert clock.error_ns is None
    sent = clock.local_ns()
    received = clock.local_ns()
    true_ms = (sent + received) // 2 // NS_PER_MS + 1000  # the cluster's clock is the host's real one
    clock.align([ClockSample(sent, received, true_ms)])
    # Bracketed by local readings, so no bound on how long the calls take: only the cluster's
    # millisecond resolution (and the half-millisecond it is assumed to stand for) remains.
    before = clock.local_ns()
    now = clock.now_ns()
    after = clock.local_ns()
    assert before + NS_PER_SECOND - NS_PER_MS <= now <= after + NS_PER_SECOND + NS_PER_MS


def test_no_samples_leave_the_clock_alone():
    clock = Clock(injected_offset_ms=250)
    clock.align([])
    assert clock.correction_ns == 0 and clock.error_ns is None
