"""Loki's request parameters: times, steps, limits and directions, parsed as Loki parses them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from logriver.adapters.loki.logql_lexer import LogQLError
from logriver.core.params import int_or_none
from logriver.core.settings import Settings
from logriver.core.timeutil import NS_PER_SECOND, TimestampError, parse_rfc3339_ns

DEFAULT_LIMIT = 100
DEFAULT_RANGE_NS = 3600 * NS_PER_SECOND  # start defaults to one hour before end
MAX_POINTS = 11000  # Loki's most points per series
_PROM_DURATION = re.compile(r"(?:(\d{1,15})y)?(?:(\d{1,15})w)?(?:(\d{1,15})d)?(?:(\d{1,15})h)?(?:(\d{1,15})m)?"
                            r"(?:(\d{1,15})s)?(?:(\d{1,15})ms)?")  # fmt: skip
_PROM_UNITS_NS = [365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001]


class ParamError(LogQLError):
    pass


def param_error(name: str, message: str) -> ParamError:
    return ParamError(f"invalid parameter {name!r}: {message}", {"parameter": name})


def parse_time(name: str, text: str) -> int:
    """Nanoseconds from an epoch in ns (more than 10 digits) or s, float seconds, or RFC 3339."""
    text = text.strip()
    if "." in text and _looks_numeric(text):
        try:
            seconds = Decimal(text)
        except InvalidOperation:
            raise param_error(name, f"{text[:40]!r} is not a time") from None
        # Loki keeps millisecond precision of a float time.
        return int(seconds.quantize(Decimal("0.001")) * NS_PER_SECOND)
    value = int_or_none(text)
    if value is not None:
        return value * NS_PER_SECOND if len(text.lstrip("+-")) <= 10 else value
    try:
        return parse_rfc3339_ns(text)
    except TimestampError:
        raise param_error(
            name, f"{text[:40]!r} is not a time: give nanoseconds or seconds since the epoch, or RFC 3339"
        ) from None


def _looks_numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[+-]?\d{0,19}\.\d{0,9}", text))


def parse_step(text: str) -> int:
    """Nanoseconds of a step given as (float) seconds or a duration such as 60000ms or 1m30s."""
    text = text.strip()
    if re.fullmatch(r"[+-]?(\d{1,12}(\.\d{0,9})?|\.\d{1,9})", text):
        ns = int(Decimal(text) * NS_PER_SECOND)
    else:
        match = _PROM_DURATION.fullmatch(text)
        if not text or match is None:
            raise param_error("step", f"{text[:40]!r} is neither seconds nor a duration such as 60000ms or 1m")
        ns = int(
            sum(int(g) * unit * NS_PER_SECOND for g, unit in zip(match.groups(), _PROM_UNITS_NS, strict=True) if g)
        )
    if ns <= 0:
        raise param_error(
            "step", "zero or negative query resolution step widths are not accepted; try a positive integer"
        )
    return ns


@dataclass(frozen=True)
class RangeParams:
    query: str
    start_ns: int
    end_ns: int
    step_ns: int
    limit: int
    direction: str  # forward or backward


def required_query(params: Mapping[str, str]) -> str:
    query = params.get("query", "")
    if not query.strip():
        raise param_error("query", "the query parameter is required and must not be empty")
    return query


def parse_limit(params: Mapping[str, str], settings: Settings) -> int:
    text = params.get("limit", "")
    if not text:
        return DEFAULT_LIMIT
    value = int_or_none(text)
    if value is None or value <= 0:
        raise param_error("limit", f"{text[:40]!r} is not a positive integer")
    if value > settings.loki_max_entries:
        raise param_error(
            "limit",
            f"max entries limit per query exceeded, limit > max_entries_limit ({value} > {settings.loki_max_entries}); "
            "lower the line limit of the query (LOGRIVER_LOKI_MAX_ENTRIES)",
        )
    return value


def parse_direction(params: Mapping[str, str]) -> str:
    text = params.get("direction", "backward").strip().lower() or "backward"
    if text not in ("forward", "backward"):
        raise param_error("direction", f"{text[:40]!r} is not forward or backward")
    return text


def parse_window(params: Mapping[str, str], now_ns: int, settings: Settings) -> tuple[int, int]:
    """[start, end] of a range request: end defaults to now, start to one hour before end."""
    end = parse_time("end", params["end"]) if params.get("end") else now_ns
    start = parse_time("start", params["start"]) if params.get("start") else end - DEFAULT_RANGE_NS
    if end < start:
        raise param_error("end", "end timestamp must not be before start time")
    longest = settings.loki_max_query_hours * 3600 * NS_PER_SECOND
    if end - start > longest:
        raise param_error(
            "start",
            f"the query time range exceeds the limit (query length: {_hours(end - start)}, limit: "
            f"{settings.loki_max_query_hours}h; LOGRIVER_LOKI_MAX_QUERY_HOURS)",
        )
    return start, end


def _hours(ns: int) -> str:
    return f"{ns / 3600 / NS_PER_SECOND:.1f}h"


def parse_range(params: Mapping[str, str], now_ns: int, settings: Settings) -> RangeParams:
    query = required_query(params)
    start, end = parse_window(params, now_ns, settings)
    if params.get("step"):
        step = parse_step(params["step"])
    else:  # Loki's default: about 250 points, at least a second
        step = max(math.floor((end - start) / NS_PER_SECOND / 250), 1) * NS_PER_SECOND
    if params.get("interval"):
        raise param_error("interval", "sampling log queries by interval is not supported; leave it out")
    if (end - start) // step + 1 > MAX_POINTS:
        raise param_error(
            "step",
            f"exceeded maximum resolution of {MAX_POINTS} points per timeseries; try increasing the value of the step",
        )
    return RangeParams(query, start, end, step, parse_limit(params, settings), parse_direction(params))
