"""Loki's metadata endpoints: labels, label values, series, index stats and volume, detected
fields and labels, build info. Streams count when they have lines in the window, as in Loki.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from logriver.adapters.loki.envelope import success
from logriver.adapters.loki.logql_ast import Grouping, RangeAgg, Selector, VectorAgg
from logriver.adapters.loki.logql_lexer import bytes_value, duration_ns, unsupported
from logriver.adapters.loki.logql_metrics import Scalar, format_time, format_value
from logriver.adapters.loki.logql_pipeline import flatten, parse_json, parse_logfmt, selector_matches
from logriver.adapters.loki.params import param_error, parse_step, parse_window
from logriver.adapters.loki.requests import ENGINE, caller, now_ns, request_params, selector_query
from logriver.core.params import int_or_none
from logriver.core.streams import StreamInfo
from logriver.core.web import json_response
from logriver.query.reader import LineQuery
from logriver.query.streams import MAX_MATCHED_STREAMS
from logriver.services import SERVICES

BUILD_VERSION = "3.0.0"  # the Loki API level answered: Grafana turns features on by it
DETECTED_LINE_LIMIT = 1000  # lines detected fields are taken from, newest first (Loki's default)
MAX_DETECTED_LINE_LIMIT = 5000


async def _window_streams(request: web.Request, params: Mapping[str, str], query_text: str) -> list[StreamInfo]:
    """The caller's streams with lines in [start, end), narrowed by a selector when one is given."""
    who = caller(request)
    services = request.app[SERVICES]
    start, end = parse_window(params, now_ns(request), services.settings)
    selector = selector_query(query_text).selector if query_text.strip() else None
    eq = {} if selector is None else _eq(selector)
    found = await services.streams.find(LineQuery(who.tenant, eq, start, end), limit=MAX_MATCHED_STREAMS)
    if selector is None:
        return found
    return [s for s in found if selector_matches(selector, s.labels)]


def _eq(selector: Selector) -> dict[str, str]:
    names = [m.name for m in selector.matchers]
    return {m.name: m.value for m in selector.matchers if m.op == "=" and m.value and names.count(m.name) == 1}


async def labels_handler(request: web.Request) -> web.Response:
    params = await request_params(request)
    streams = await _window_streams(request, params, params.get("query", ""))
    return success(sorted({name for s in streams for name in s.labels}))


async def label_values_handler(request: web.Request) -> web.Response:
    params = await request_params(request)
    name = request.match_info["name"]
    streams = await _window_streams(request, params, params.get("query", ""))
    return success(sorted({s.labels[name] for s in streams if name in s.labels}))


async def series_handler(request: web.Request) -> web.Response:
    params = await request_params(request)
    matches = params.getall("match[]", []) + params.getall("match", [])
    seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for text in matches or [""]:
        for stream in await _window_streams(request, params, text):
            seen.setdefault(tuple(sorted(stream.labels.items())), stream.labels)
    return success([seen[key] for key in sorted(seen)])


async def detected_labels_handler(request: web.Request) -> web.Response:
    params = await request_params(request)
    streams = await _window_streams(request, params, params.get("query", ""))
    values: dict[str, set[str]] = defaultdict(set)
    for stream in streams:
        for name, value in stream.labels.items():
            values[name].add(value)
    detected = [{"label": name, "cardinality": len(values[name])} for name in sorted(values)]
    return json_response({"detectedLabels": detected})


async def index_stats_handler(request: web.Request) -> web.Response:
    """Streams, lines and their bytes exactly; logriver stores no chunks, so `chunks` is 0."""
    params = await request_params(request)
    streams = await _window_streams(request, params, params.get("query", ""))
    entries = sum(s.lines for s in streams)
    total_bytes = 0
    if streams:
        who = caller(request)
        services = request.app[SERVICES]
        start, end = parse_window(params, now_ns(request), services.settings)
        ids = tuple(sorted(s.stream_id for s in streams))
        query = LineQuery(who.tenant, start_ns=start, end_ns=end, stream_ids=ids)
        total_bytes = await request.app[ENGINE].message_bytes(query)
    return json_response({"streams": len(streams), "chunks": 0, "entries": entries, "bytes": total_bytes})


async def volume_handler(request: web.Request) -> web.Response:
    return await _volume(request, ranged=False)


async def volume_range_handler(request: web.Request) -> web.Response:
    return await _volume(request, ranged=True)


async def _volume(request: web.Request, ranged: bool) -> web.Response:
    """Bytes of lines per series: `sum by (<target labels>) (bytes_over_time(selector[...]))`."""
    who = caller(request)
    params = await request_params(request)
    services = request.app[SERVICES]
    log = selector_query(params.get("query", ""))
    if log.stages:
        raise unsupported("volume with a pipeline", "give a stream selector only")
    if params.get("aggregateBy", "series") != "series":
        raise unsupported(f"aggregateBy={params.get('aggregateBy')}", "only aggregateBy=series is")
    start, end = parse_window(params, now_ns(request), services.settings)
    targets = [t for t in params.get("targetLabels", "").split(",") if t] or [m.name for m in log.selector.matchers]
    if ranged:
        step = parse_step(params["step"]) if params.get("step") else max((end - start) // 250, 1_000_000_000)
        steps = list(range(start + step, end + 1, step)) or [end]
    else:
        step, steps = max(end - start, 1), [end]
    expr = VectorAgg("sum", RangeAgg("bytes_over_time", log, step), Grouping(False, tuple(targets)))
    result = await request.app[ENGINE].metric(who.tenant, expr, steps)
    assert not isinstance(result, Scalar)
    limit = _limit(params.get("limit", ""), 100, 5000)
    if ranged:
        rows = [
            {
                "metric": dict(key),
                "values": [[format_time(steps[i]), format_value(v)] for i, v in sorted(points.items())],
            }
            for key, points in sorted(result.items())
        ]
        return success({"resultType": "matrix", "result": rows[:limit]})
    ranked = sorted(result.items(), key=lambda item: (-item[1].get(0, 0.0), item[0]))[:limit]
    vector = [{"metric": dict(key), "value": [format_time(end), format_value(points[0])]} for key, points in ranked]
    return success({"resultType": "vector", "result": vector})


def _limit(text: str, default: int, maximum: int) -> int:
    if not text:
        return default
    value = int_or_none(text)
    if value is None or not 1 <= value <= maximum:
        raise param_error("limit", f"must be an integer from 1 to {maximum}, got {text[:40]!r}")
    return value


async def _detected(request: web.Request) -> tuple[dict[str, Counter[str]], dict[str, set[str]], int]:
    """Values and parsers of each field in the newest lines of `query` (as many as `line_limit`)."""
    who = caller(request)
    params = await request_params(request)
    services = request.app[SERVICES]
    log = selector_query(params.get("query", ""))
    start, end = parse_window(params, now_ns(request), services.settings)
    limit = _limit(
        params.get("line_limit", "") or params.get("limit", ""), DETECTED_LINE_LIMIT, MAX_DETECTED_LINE_LIMIT
    )
    entries = await request.app[ENGINE].entries(who.tenant, log, (start, end), limit, "backward")
    values: dict[str, Counter[str]] = defaultdict(Counter)
    parsers: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        for parser, found in _fields_of(entry.line, entry.fields):
            for name, value in found.items():
                values[name][value] += 1
                parsers[name].add(parser)
    return values, parsers, limit


def _fields_of(line: str, fields: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """What `| json` or `| logfmt` would extract: the line's own keys, then its stored `fields`.

    The pipeline adds a line's `fields` under either parser, so they are reported under the parser
    that also reads the line: a query Grafana builds from this answer then finds them.
    """
    parsed = parse_json(line)
    parser = "json" if parsed is not None else "logfmt"
    found = parsed if parsed is not None else (parse_logfmt(line) or {})
    for key, value in flatten(fields).items():
        found.setdefault(key, value)
    return [(parser, found)] if found else []


async def detected_fields_handler(request: web.Request) -> web.Response:
    values, parsers, limit = await _detected(request)
    fields = [
        {"label": name, "type": _type(values[name]), "cardinality": len(values[name]), "parsers": sorted(parsers[name])}
        for name in sorted(values)
    ]
    return json_response({"fields": fields, "limit": limit})


async def detected_field_values_handler(request: web.Request) -> web.Response:
    values, _, limit = await _detected(request)
    found = values.get(request.match_info["name"], Counter())
    return json_response({"values": sorted(found), "limit": limit})


def _type(values: Counter[str]) -> str:
    """The narrowest type every value fits, in Loki's names."""
    texts = list(values)
    for name, check in (("boolean", _is_bool), ("int", _is_int), ("float", _is_float), ("duration", _is_duration),
                        ("bytes", _is_bytes)):  # fmt: skip
        if texts and all(check(t) for t in texts):
            return name
    return "string"


def _is_bool(text: str) -> bool:
    return text in ("true", "false")


def _is_int(text: str) -> bool:
    return int_or_none(text) is not None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_duration(text: str) -> bool:
    return duration_ns(text) is not None


def _is_bytes(text: str) -> bool:
    return bytes_value(text) is not None


async def buildinfo_handler(request: web.Request) -> web.Response:
    info = {"version": BUILD_VERSION, "revision": "logriver", "branch": "", "buildUser": "", "buildDate": "",
            "goVersion": ""}  # fmt: skip
    return json_response(info)


ROUTES: list[tuple[str, Any]] = [
    ("/api/v1/labels", labels_handler),
    ("/api/v1/label/{name}/values", label_values_handler),
    ("/api/v1/series", series_handler),
    ("/api/v1/index/stats", index_stats_handler),
    ("/api/v1/index/volume", volume_handler),
    ("/api/v1/index/volume_range", volume_range_handler),
    ("/api/v1/detected_fields", detected_fields_handler),
    ("/api/v1/detected_field/{name}/values", detected_field_values_handler),
    ("/api/v1/detected_labels", detected_labels_handler),
    ("/api/v1/status/buildinfo", buildinfo_handler),
]
