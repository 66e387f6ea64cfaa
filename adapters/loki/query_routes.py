"""Loki's query endpoints that Grafana's Loki data source calls: data, labels, series, stats, tail."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from logriver.adapters.loki import meta_routes, tail_ws
from logriver.adapters.loki.envelope import success
from logriver.adapters.loki.logql_ast import LogQuery, MetricExpr
from logriver.adapters.loki.logql_eval import Entry, LogQLEngine, LokiDirection
from logriver.adapters.loki.logql_lexer import LogQLError
from logriver.adapters.loki.logql_metrics import Scalar, Series, format_time, format_value
from logriver.adapters.loki.logql_parser import parse_logql
from logriver.adapters.loki.params import (
    RangeParams,
    param_error,
    parse_direction,
    parse_limit,
    parse_range,
    parse_time,
)
from logriver.adapters.loki.requests import ENGINE, caller, now_ns, request_params
from logriver.services import SERVICES, Services


def add_query_routes(app: web.Application, services: Services) -> None:
    """Loki's read API on the `/loki` family app (paths relative to its prefix)."""
    app[ENGINE] = LogQLEngine(services.reader, services.streams, services.settings)
    for path, handler in (
        ("/api/v1/query_range", query_range_handler),
        ("/api/v1/query", query_handler),
        *meta_routes.ROUTES,
    ):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
    app.router.add_get("/api/v1/tail", tail_ws.tail_handler)


async def query_range_handler(request: web.Request) -> web.Response:
    who = caller(request)
    params = await request_params(request)
    parsed = parse_range(params, now_ns(request), request.app[SERVICES].settings)
    expr = parse_logql(parsed.query)
    engine = request.app[ENGINE]
    if isinstance(expr, LogQuery):
        return success(await _streams(engine, who.tenant, expr, parsed))
    steps = list(range(parsed.start_ns, parsed.end_ns + 1, parsed.step_ns))
    result = await engine.metric(who.tenant, expr, steps)
    return success({"resultType": "matrix", "result": render_matrix(result, steps)})


async def query_handler(request: web.Request) -> web.Response:
    who = caller(request)
    params = await request_params(request)
    settings = request.app[SERVICES].settings
    query = params.get("query", "")
    if not query.strip():
        raise param_error("query", "the query parameter is required and must not be empty")
    at = parse_time("time", params["time"]) if params.get("time") else now_ns(request)
    parse_limit(params, settings)
    parse_direction(params)
    expr = parse_logql(query)
    if isinstance(expr, LogQuery):
        raise LogQLError(
            "log queries are not supported as an instant query type, please change your query to a range query type"
        )
    return success(await _instant(request.app[ENGINE], who.tenant, expr, at))


async def _instant(engine: LogQLEngine, tenant: str, expr: MetricExpr, at: int) -> dict[str, Any]:
    result = await engine.metric(tenant, expr, [at])
    if isinstance(result, Scalar):
        return {"resultType": "scalar", "result": [format_time(at), format_value(result.value)]}
    vector = [
        {"metric": dict(key), "value": [format_time(at), format_value(points[0])]}
        for key, points in sorted(result.items())
        if 0 in points
    ]
    return {"resultType": "vector", "result": vector}


async def _streams(engine: LogQLEngine, tenant: str, expr: LogQuery, parsed: RangeParams) -> dict[str, Any]:
    direction: LokiDirection = "forward" if parsed.direction == "forward" else "backward"
    # Loki's window for lines is [start, end).
    entries = await engine.entries(tenant, expr, (parsed.start_ns, parsed.end_ns), parsed.limit, direction)
    return {"resultType": "streams", "result": render_streams(entries)}


def render_streams(entries: list[Entry]) -> list[dict[str, Any]]:
    """Entries grouped by their labels, each stream's values in the order the entries came."""
    streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
    for entry in entries:
        key = tuple(sorted(entry.labels.items()))
        streams.setdefault(key, []).append([str(entry.timestamp_ns), entry.line])
    return [{"stream": dict(key), "values": values} for key, values in streams.items()]


def render_matrix(result: Series | Scalar, steps: list[int]) -> list[dict[str, Any]]:
    if isinstance(result, Scalar):
        result = {(): dict.fromkeys(range(len(steps)), result.value)}
    return [
        {
            "metric": dict(key),
            "values": [[format_time(steps[i]), format_value(points[i])] for i in sorted(points)],
        }
        for key, points in sorted(result.items())
        if points
    ]
