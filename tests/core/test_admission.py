"""The in-flight byte budget on its own: who is admitted, who waits, who is refused."""

from __future__ import annotations

import asyncio

import pytest

from logriver.core.admission import Admission, Reservation
from logriver.core.errors import OverloadedError
from logriver.core.metrics import Metrics


async def test_requests_within_the_budget_are_admitted_at_once() -> None:
    admission = Admission(budget_bytes=100, wait_seconds=0, metrics=Metrics())
    first, second = Reservation(), Reservation()
    await admission.reserve(first, 60)
    await admission.reserve(second, 40)
    assert admission.in_flight == 100 and (first.size, second.size) == (60, 40)


async def test_a_request_past_the_budget_is_refused_after_waiting() -> None:
    admission = Admission(budget_bytes=100, wait_seconds=0.05, metrics=Metrics())
    await admission.reserve(Reservation(), 80)
    late = Reservation()
    with pytest.raises(OverloadedError) as refused:
        await admission.reserve(late, 30)
    assert refused.value.status == 429 and refused.value.details["limit"] == "max_inflight_bytes"
    assert late.size == 0 and admission.in_flight == 80


async def test_a_waiting_request_is_admitted_when_room_is_released() -> None:
    admission = Admission(budget_bytes=100, wait_seconds=5, metrics=Metrics())
    holder, waiter = Reservation(), Reservation()
    await admission.reserve(holder, 90)
    waiting = asyncio.create_task(admission.reserve(waiter, 50))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await admission.release(holder)
    await asyncio.wait_for(waiting, 1)
    assert admission.in_flight == 50 == waiter.size


async def test_a_lone_request_larger_than_the_budget_is_admitted() -> None:
    # max_request_bytes bounds one request; the budget only decides how many run at once.
    admission = Admission(budget_bytes=10, wait_seconds=0, metrics=Metrics())
    big = Reservation()
    await admission.reserve(big, 1000)
    with pytest.raises(OverloadedError):
        await admission.reserve(Reservation(), 1)
    await admission.release(big)
    assert admission.in_flight == 0 and admission.peak == 1000


async def test_release_is_idempotent() -> None:
    admission = Admission(budget_bytes=100, wait_seconds=0, metrics=Metrics())
    reservation = Reservation()
    await admission.reserve(reservation, 70)
    await admission.release(reservation)
    await admission.release(reservation)
    assert admission.in_flight == 0
