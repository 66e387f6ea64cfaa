"""`GET /loki/api/v1/tail`: Loki's live tail as a WebSocket, on the native tail's engine.

Each text message is `{"streams": [{"stream": labels, "values": [[ns, line]]}], "dropped_entries": [...]}`.
Lines come once each, in arrival order, from the shared tail hub (query/tail.py); the selector's
regular expressions and the pipeline run here. When this client read too slowly, the hub drops
lines and says how many: that many `dropped_entries` go out, each with the time the loss was
noticed (the hub does not keep the lost lines, so their labels are empty).
With `start`, the lines since then (at most `limit`) come first, then the live ones, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from logriver.adapters.loki.logql_ast import LogQuery
from logriver.adapters.loki.logql_eval import Entry
from logriver.adapters.loki.logql_pipeline import build_pipeline, selector_matches
from logriver.adapters.loki.params import param_error, parse_limit, parse_time
from logriver.adapters.loki.requests import ENGINE, caller, now_ns, request_params, selector_query
from logriver.query.reader import LineQuery
from logriver.query.tail import Dropped, Ended, Heartbeat, TailLine
from logriver.services import SERVICES

MAX_DELAY_SECONDS = 5  # Loki's bound on delay_for
MAX_DROPPED_LISTED = 1000  # dropped_entries in one message; a larger loss is listed over several


async def tail_handler(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    params = await request_params(request)
    services = request.app[SERVICES]
    log = selector_query(params.get("query", ""))
    limit = parse_limit(params, services.settings)
    _check_delay(params.get("delay_for", ""))
    start = parse_time("start", params["start"]) if params.get("start") else None
    ws = web.WebSocketResponse(heartbeat=None, autoping=True)
    if not ws.can_prepare(request).ok:
        raise param_error("upgrade", "the tail is a WebSocket: connect with a WebSocket client")
    hub = services.tail_hub
    subscription = hub.subscribe(LineQuery(who.tenant, _eq(log), substrings=()))
    try:
        sent: set[str] = set()
        if start is not None:
            backfill = await request.app[ENGINE].entries(who.tenant, log, (start, now_ns(request)), limit, "backward")
            await ws.prepare(request)
            sent.update(entry.line_id for entry in backfill)
            if backfill:
                await ws.send_str(_frame(list(reversed(backfill))))
        else:
            await ws.prepare(request)
        await _follow(ws, subscription.events(), log, sent, request)
    finally:
        hub.unsubscribe(subscription)
    return ws


def _eq(log: LogQuery) -> dict[str, str]:
    names = [m.name for m in log.selector.matchers]
    return {m.name: m.value for m in log.selector.matchers if m.op == "=" and m.value and names.count(m.name) == 1}


def _check_delay(text: str) -> None:
    if not text:
        return
    if not text.isdigit() or int(text) > MAX_DELAY_SECONDS:
        raise param_error("delay_for", f"must be a whole number of seconds from 0 to {MAX_DELAY_SECONDS}")


async def _follow(ws: web.WebSocketResponse, events: Any, log: LogQuery, sent: set[str], request: web.Request) -> None:
    """Send live lines until the tail ends or the client closes; the reader notices the close."""
    pipeline = build_pipeline(log)
    reader = asyncio.create_task(_until_closed(ws))
    try:
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                if reader.done() or ws.closed:
                    return
                if isinstance(event, TailLine):
                    line = event.line
                    if line.id in sent or not selector_matches(log.selector, line.labels):
                        continue
                    result = pipeline(line.labels, line.message, line.fields)
                    if result is not None:
                        await ws.send_str(_frame([Entry(line.timestamp_ns, result[1], result[0], line.key)]))
                elif isinstance(event, Dropped):
                    await _send_dropped(ws, event.count, now_ns(request))
                elif isinstance(event, Heartbeat):
                    await ws.ping()
                elif isinstance(event, Ended):
                    message = event.error.message if event.error is not None else event.reason
                    await ws.close(code=1011 if event.error is not None else 1000, message=message[:120].encode())
                    return
    except ConnectionResetError:
        return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if not ws.closed:
            await ws.close()


async def _until_closed(ws: web.WebSocketResponse) -> None:
    async for message in ws:
        if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            return


async def _send_dropped(ws: web.WebSocketResponse, count: int, at_ns: int) -> None:
    while count > 0:
        listed = min(count, MAX_DROPPED_LISTED)
        dropped = [{"labels": "{}", "timestamp": str(at_ns)}] * listed
        await ws.send_str(orjson.dumps({"streams": [], "dropped_entries": dropped}).decode())
        count -= listed


def _frame(entries: list[Entry]) -> str:
    streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
    for entry in entries:
        streams.setdefault(tuple(sorted(entry.labels.items())), []).append([str(entry.timestamp_ns), entry.line])
    body = {"streams": [{"stream": dict(k), "values": v} for k, v in streams.items()], "dropped_entries": None}
    return orjson.dumps(body).decode()
