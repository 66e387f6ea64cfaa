"""marshmallow fields both paths use the same way."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from logriver.core.timeutil import TimestampError, parse_timestamp_ns


class TimestampField(fields.Field[int]):
    """RFC 3339 (up to ns) or integer epoch milliseconds, loaded as integer nanoseconds."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        try:
            return parse_timestamp_ns(value)
        except TimestampError as exc:
            raise ValidationError(str(exc)) from None
