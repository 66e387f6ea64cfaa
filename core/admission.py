"""Admission control: a bound on the request bytes being parsed and written at once.

Every body is held, decoded and then parsed into objects several times its size, until its
lines are in storage; without a bound, many concurrent writers grow the heap without limit and
the Python allocator keeps it after the load. Past the bound a request is told to come back
(429 with Retry-After) before its body is read, so nothing it carries was acknowledged.
"""

from __future__ import annotations

from aiohttp import web

from logriver.core.errors import OverloadedError

ADMITTED = web.RequestKey("admitted_bytes", int)  # the bytes a request holds


class Admission:
    """Counts the bytes admitted requests hold; one request alone is always admitted."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.in_flight = 0

    def admit(self, request: web.BaseRequest, size: int) -> None:
        """Hold `size` more bytes for `request`, or raise 429 when others already hold the budget."""
        held = request.get(ADMITTED, 0)
        others = self.in_flight - held
        if others > 0 and self.in_flight + size > self.max_bytes:
            raise OverloadedError(
                f"the service is already parsing and writing {others} bytes of other requests "
                f"(LOGRIVER_MAX_INFLIGHT_BYTES is {self.max_bytes}); retry after Retry-After seconds",
                {"limit": "max_inflight_bytes", "max_bytes": self.max_bytes},
            )
        self.in_flight += size
        request[ADMITTED] = held + size

    def release(self, request: web.BaseRequest) -> None:
        """Give back what `request` held; called once its answer is ready."""
        self.in_flight -= request.pop(ADMITTED, 0)
