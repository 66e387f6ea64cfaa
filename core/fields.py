"""marshmallow fields both paths use the same way."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from logriver.core.timeutil import NS_PER_MS, TimestampError, parse_duration_ms, parse_timestamp_ns


class TimestampField(fields.Field[int]):
    """RFC 3339 (up to ns) or integer epoch milliseconds, loaded as integer nanoseconds."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        try:
            return parse_timestamp_ns(value)
        except TimestampError as exc:
            raise ValidationError(str(exc)) from None


class DurationField(fields.Field[int]):
    """`250ms`, `30s`, `10m`, `2h` or `7d`, loaded as integer nanoseconds."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        millis = parse_duration_ms(value) if isinstance(value, str) else None
        if millis is None:
            raise ValidationError(f"{str(value)[:40]!r} is not a duration such as 30s, 10m, 2h or 7d")
        return millis * NS_PER_MS
