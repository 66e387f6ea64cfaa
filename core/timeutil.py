"""Timestamps as integer nanoseconds since the epoch, parsed from and printed as RFC 3339."""

from __future__ import annotations

import calendar
import functools
import re
import time

from logriver.core.params import int_or_none

NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000
# Elasticsearch's `long` ends here, and so does date_nanos (a signed 64-bit nanosecond count).
MAX_INT64 = 2**63 - 1
# date_nanos holds 1970-01-01 up to 2262-04-11.
MIN_STORABLE_NS = 0
MAX_STORABLE_NS = MAX_INT64

_DURATION = re.compile(r"(\d{1,15})(ms|s|m|h|d)")  # bounded: int() of thousands of digits raises
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))$",
    re.ASCII,
)
_UTC_MINUTE_PREFIX = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):$", re.ASCII)


class TimestampError(ValueError):
    """A timestamp that is not RFC 3339 (with a zone) nor integer epoch milliseconds."""


def parse_rfc3339_ns(text: str) -> int:
    """Parse RFC 3339 with up to nanosecond precision; the zone is required."""
    fast = parse_utc_fast(text)
    return fast if fast is not None else _parse_general(text)


def parse_utc_fast(text: str) -> int | None:
    """The shape shippers and logriver itself write (`…T12:00:00.123Z`), without the regex.

    None means "not that shape": the general parser then decides and words any error.
    """
    if len(text) < 20 or text[-1] not in "Zz" or text[19] not in ".Zz":
        return None
    fraction = text[20:-1]
    if text[19] == "." and not (fraction.isascii() and fraction.isdigit() and len(fraction) <= 9):
        return None
    if text[19] != "." and len(text) != 20:
        return None
    # Lines of a batch are seconds apart more often than in the same second: the calendar
    # work is cached per minute, and the seconds' two digits are added to it.
    minute, second = _utc_minute(text[:17]), text[17:19]
    if minute is None or not (second.isascii() and second.isdigit()) or second > "60":
        return None
    return (minute + int(second)) * NS_PER_SECOND + int(fraction.ljust(9, "0"))


@functools.lru_cache(maxsize=4096)
def _utc_minute(prefix: str) -> int | None:
    match = _UTC_MINUTE_PREFIX.match(prefix)
    if match is None:
        return None
    try:
        return _epoch_seconds(*match.groups(), "00")
    except (ValueError, OverflowError):
        return None


def _parse_general(text: str) -> int:
    match = _RFC3339.match(text.strip())
    if not match:
        raise TimestampError(f"{text!r} is not an RFC 3339 timestamp such as 2024-05-01T12:00:00.123456789Z")
    year, month, day, hour, minute, second, frac, zulu, sign, zh, zm = match.groups()
    try:
        seconds = _epoch_seconds(year, month, day, hour, minute, second)
    except (ValueError, OverflowError) as exc:
        raise TimestampError(f"{text!r} is not a valid date and time: {exc}") from None
    if not zulu:
        offset = int(zh) * 3600 + int(zm) * 60
        seconds -= offset if sign == "+" else -offset
    nanos = int((frac or "").ljust(9, "0") or 0)
    return seconds * NS_PER_SECOND + nanos


@functools.lru_cache(maxsize=4096)
def _epoch_seconds(year: str, month: str, day: str, hour: str, minute: str, second: str) -> int:  # noqa: PLR0917 - positional: a cheap cache key on the hot path
    # Lines of one batch share their seconds; the cache saves most of the calendar work.
    _check_ranges(int(month), int(day), int(hour), int(minute), int(second))
    return calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0))


def _check_ranges(month: int, day: int, hour: int, minute: int, second: int) -> None:
    # timegm silently normalises 2024-02-31 into March; a log timestamp like that is a client bug.
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000, month)[1]):
        raise ValueError("day or month out of range")
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time of day out of range")


def parse_timestamp_ns(value: object) -> int:
    """Accept RFC 3339 strings or integer epoch milliseconds (the two forms of the API)."""
    if isinstance(value, bool):
        raise TimestampError("a timestamp cannot be a boolean")
    if isinstance(value, int):
        return value * NS_PER_MS
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.lstrip("-").isdigit():
            millis = int_or_none(stripped)
            if millis is None:
                raise TimestampError(f"{stripped[:40]!r} is not a number of epoch milliseconds that fits 64 bits")
            return millis * NS_PER_MS
        return parse_rfc3339_ns(stripped)
    raise TimestampError(
        f"a timestamp must be an RFC 3339 string or integer epoch milliseconds, got {type(value).__name__}"
    )


# ".000Z" to ".999Z": a table lookup is a third of formatting the digits (a page renders 100 times).
_MILLIS = tuple(f".{millis:03d}Z" for millis in range(1000))


def format_rfc3339_ns(ns: int) -> str:
    """Print with the precision the value has: whole seconds, ms, µs or ns digits."""
    seconds, nanos = divmod(ns, NS_PER_SECOND)
    base = _format_seconds(seconds)
    if nanos == 0:
        return base + "Z"
    # Once per stored or read line: whole milliseconds (what most shippers send) first, looked up.
    if nanos % 1_000_000 == 0:
        return base + _MILLIS[nanos // 1_000_000]
    if nanos % 1000 == 0:
        return f"{base}.{nanos // 1000:06d}Z"
    return f"{base}.{nanos:09d}Z"


@functools.lru_cache(maxsize=4096)
def _format_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def now_ns() -> int:
    return time.time_ns()


def parse_duration_ms(text: str) -> int | None:
    """`250ms`, `30s`, `5m`, `1h` or `7d` in milliseconds; None when `text` is not such a duration."""
    match = _DURATION.fullmatch(text.strip())
    return int(match[1]) * _DURATION_MS[match[2]] if match else None
