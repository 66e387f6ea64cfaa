"""Lines decoded from a foreign write protocol (OTLP, Loki push): checked and written like native ones.

Every protocol hands its decoded lines here, so the limits, the time window, the rejection reasons
and the writer are the native API's own. This is also the one place where such lines are counted:
`protocol` names the caller ("otlp", "loki") for that accounting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from logriver.core.metrics import Metrics
from logriver.core.rejections import Rejection
from logriver.core.settings import Settings
from logriver.core.timeutil import now_ns
from logriver.ingest.schemas import LineIn, accepted_window, check_limits, check_window
from logriver.ingest.writer import LineWriter


@dataclass(frozen=True)
class IntakeResult:
    """How many lines of a request are stored (replays included), and why the others are not."""

    received: int
    accepted: int
    rejected: list[Rejection]  # by position in the request


class LineIntake:
    """Checks decoded lines against the settings' limits, then stores the valid ones once."""

    def __init__(self, writer: LineWriter, settings: Settings, metrics: Metrics):
        self.writer = writer
        self.settings = settings
        self.metrics = metrics

    async def write(
        self, protocol: str, tenant: str, candidates: Sequence[LineIn | Rejection], digest: bytes, body_bytes: int
    ) -> IntakeResult:
        """Store the valid lines of one request; `digest` identifies the request for replays.

        A candidate is a decoded line or the reason its record could not become one; positions
        are indices in `candidates`. Storage trouble raises (503/429) with nothing acknowledged.
        `body_bytes` is the request's size after decompression, for the received-bytes counter.
        """
        counts = self.metrics.protocol(protocol)
        counts.received(len(candidates), body_bytes)
        window = accepted_window(self.settings, now_ns())
        valid: list[tuple[int, LineIn]] = []
        rejected: list[Rejection] = []
        for position, candidate in enumerate(candidates):
            if isinstance(candidate, Rejection):
                rejected.append(candidate)
                continue
            problem = check_limits(position, candidate, self.settings) or check_window(
                position, candidate.timestamp_ns, window
            )
            if problem is None:
                valid.append((position, candidate))
            else:
                rejected.append(problem)
        counts.rejected(r.type for r in rejected)
        result = await self.writer.write_lines(tenant, valid, digest)
        counts.rejected(r.type for r in result.rejected)
        rejected.extend(result.rejected)
        rejected.sort(key=lambda r: r.index)
        return IntakeResult(len(candidates), result.accepted, rejected)
