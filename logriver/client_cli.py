"""`logriver tail` and `logriver search`: the HTTP API from a terminal, against any logriver.

Both talk HTTP only (`--url`, else Settings.url, LOGRIVER_URL; `--token`, else Settings.token,
LOGRIVER_TOKEN), so they work the same against a local or a remote service.
`tail` follows GET /api/v1/tail and reconnects with the last event id, so a session that
ends (maximum duration, restart, network) continues without gaps or repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp
import orjson

from logriver.core.settings import Settings
from logriver.core.timeutil import NS_PER_MS, format_rfc3339_ns, now_ns, parse_duration_ms

RECONNECT_MIN_SECONDS = 0.5  # back-off between failed connections, doubling up to the max
RECONNECT_MAX_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0  # the tail sends a heartbeat every 15 s; silence this long is a dead link


class ClientError(Exception):
    """The server refused the request (4xx): retrying would not help."""


@dataclass(frozen=True)
class Target:
    """Where logriver runs and how to authenticate."""

    url: str
    token: str | None = None

    def endpoint(self, path: str) -> str:
        return self.url.rstrip("/") + path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass(frozen=True)
class Selection:
    """Which lines: exact labels and an optional q, as in GET /api/v1/lines."""

    labels: dict[str, str] = field(default_factory=dict)
    q: str | None = None

    def params(self) -> dict[str, str]:
        params = {f"labels.{key}": value for key, value in self.labels.items()}
        if self.q:
            params["q"] = self.q
        return params


@dataclass
class ServerEvent:
    name: str = "message"
    id: str | None = None
    data: list[str] = field(default_factory=list)


def format_line(line: dict[str, Any], as_json: bool = False) -> str:
    """`timestamp {labels} message`, or the line object as one JSON line."""
    if as_json:
        return orjson.dumps(line).decode()
    labels = ",".join(f"{key}={value}" for key, value in sorted(line.get("labels", {}).items()))
    return f"{line['@timestamp']} {{{labels}}} {line['message']}"


COMMENT = ":"  # the name of a comment (heartbeat) when an EventParser keeps them


class EventParser:
    """text/event-stream read one line at a time; `feed` returns each event once a blank line ends it."""

    def __init__(self, keep_comments: bool = False):
        self.keep_comments = keep_comments
        self._event = ServerEvent()

    def feed(self, raw: bytes) -> ServerEvent | None:
        line = raw.decode().rstrip("\r\n")
        if not line:
            event, self._event = self._event, ServerEvent()
            return event if event.data else None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if not name:
            return ServerEvent(COMMENT, None, [value]) if self.keep_comments else None
        if name == "data":
            self._event.data.append(value)
        elif name == "event":
            self._event.name = value
        elif name == "id":
            self._event.id = value
        return None


async def read_events(content: aiohttp.StreamReader) -> AsyncIterator[ServerEvent]:
    """text/event-stream events; comments (heartbeats) are skipped."""
    parser = EventParser()
    async for raw in content:
        event = parser.feed(raw)
        if event is not None:
            yield event


async def refusal_text(response: aiohttp.ClientResponse) -> str:
    try:
        error = (await response.json(content_type=None))["error"]
        return f"{response.status} {error['type']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status} {response.reason}"


class TailClient:
    """Follows the tail across reconnects, remembering the last event id."""

    def __init__(
        self,
        target: Target,
        selection: Selection,
        out: TextIO,
        err: TextIO,
        as_json: bool = False,
        *,
        since: str | None = None,
    ):
        self.target, self.selection = target, selection
        self.since = since  # a duration: the first session starts with the lines accepted in it
        self.out, self.err = out, err
        self.as_json = as_json
        self.last_id: str | None = None
        self.printed = 0
        self.delay = RECONNECT_MIN_SECONDS

    async def run(self, max_lines: int | None = None) -> int:
        """Print lines until interrupted (or `max_lines`); 1 when the server refuses the request."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=READ_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    outcome = await self._follow(session, max_lines)
                except ClientError as exc:
                    print(f"logriver: {exc}", file=self.err)
                    return 1
                except (TimeoutError, aiohttp.ClientError) as exc:
                    outcome = f"connection lost ({exc.__class__.__name__})"
                if outcome == "done":
                    return 0
                if outcome != "max_duration":  # a planned end: reconnect at once, quietly
                    print(f"logriver: {outcome}; reconnecting", file=self.err)
                    await asyncio.sleep(self.delay)
                    self.delay = min(self.delay * 2, RECONNECT_MAX_SECONDS)

    async def _follow(self, session: aiohttp.ClientSession, max_lines: int | None) -> str:
        headers = self.target.headers() | {"Accept": "text/event-stream"}
        params = self.selection.params()
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        elif self.since:
            params["since"] = self.since
        url = self.target.endpoint("/api/v1/tail")
        async with session.get(url, params=params, headers=headers) as response:
            if 400 <= response.status < 500 and response.status != 429:
                raise ClientError(await refusal_text(response))
            if response.status != 200:
                return f"server answered {await refusal_text(response)}"
            self.delay = RECONNECT_MIN_SECONDS
            async for event in read_events(response.content):
                outcome = self._handle(event, max_lines)
                if outcome:
                    return outcome
        return "the stream ended"

    def _handle(self, event: ServerEvent, max_lines: int | None) -> str | None:
        data = orjson.loads("\n".join(event.data))
        if event.id:
            self.last_id = event.id
        if event.name == "message":
            print(format_line(data, self.as_json), file=self.out, flush=True)
            self.printed += 1
            return "done" if max_lines is not None and self.printed >= max_lines else None
        if event.name == "dropped":
            print(f"logriver: {data['dropped']} lines dropped: this client read too slowly", file=self.err)
        elif event.name == "end":
            if data.get("error"):
                raise ClientError(f"{data['error']['type']}: {data['error']['message']}")
            reason = str(data.get("reason", "end"))
            return reason if reason == "max_duration" else f"the server ended the stream ({reason})"
        return None


async def search(
    target: Target,
    selection: Selection,
    out: TextIO,
    err: TextIO,
    *,
    as_json: bool = False,
    start: str | None = None,
    end: str | None = None,
    limit: int = 100,
    sort: str = "desc",
) -> int:
    """Run GET /api/v1/search once and print its lines; 1 when the server refuses."""
    params = selection.params() | {"limit": str(limit), "sort": sort}
    params |= {name: value for name, value in (("start", start), ("end", end)) if value}
    try:
        result = await _get_json(target, "/api/v1/search", params)
    except (TimeoutError, ClientError, aiohttp.ClientError) as exc:
        print(f"logriver: {exc or exc.__class__.__name__}", file=err)
        return 1
    for line in result["hits"]:
        print(format_line({k: v for k, v in line.items() if k != "highlight"}, as_json), file=out)
    if not as_json:
        total = result["total"]
        bound = "at least " if total.get("relation") == "gte" else ""
        more = "; more with a larger --limit" if result.get("next_token") else ""
        print(f"{len(result['hits'])} of {bound}{total['value']} lines{more}", file=err)
    return 0


async def _get_json(target: Target, path: str, params: dict[str, str]) -> Any:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session,
        session.get(target.endpoint(path), params=params, headers=target.headers()) as response,
    ):
        if response.status != 200:
            raise ClientError(await refusal_text(response))
        return await response.json()


def since_start(duration: str) -> str:
    """`--since 15m` as an RFC 3339 start time."""
    duration_ms = parse_duration_ms(duration)
    if duration_ms is None:
        raise argparse.ArgumentTypeError(f"{duration!r} is not a duration such as 30s, 15m, 2h or 7d")
    return format_rfc3339_ns(now_ns() - duration_ms * NS_PER_MS)


def _duration(text: str) -> str:
    if parse_duration_ms(text) is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30s, 15m, 2h or 7d")
    return text.strip()


def parse_label(text: str) -> tuple[str, str]:
    """`-l key=value`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not a label selection such as app=web")
    return key, value


def add_client_commands(commands: Any) -> None:
    """Register `tail` and `search` on the `logriver` command line."""
    tail = commands.add_parser("tail", help="print new lines as they arrive, until interrupted")
    _add_common_options(tail)
    tail.add_argument("-n", "--max-lines", type=int, help="exit after printing this many lines")
    tail.add_argument(
        "--since", type=_duration, help="start with the lines accepted this long ago (30s, 10m, 2h), then follow"
    )
    tail.set_defaults(run=_run_tail)
    found = commands.add_parser("search", help="search lines once and print them")
    found.add_argument("query", nargs="?", help='q syntax: words, "phrases", field:value, AND/OR/NOT')
    _add_common_options(found)
    found.add_argument("--since", type=since_start, help="window start relative to now: 30s, 15m, 2h, 7d")
    found.add_argument("--start", help="window start (RFC 3339 or epoch ms), inclusive")
    found.add_argument("--end", help="window end (RFC 3339 or epoch ms), exclusive")
    found.add_argument("--limit", type=int, default=100, help="lines to print (default 100)")
    found.add_argument(
        "--sort", choices=["asc", "desc"], default="desc", help="asc: oldest first; desc: newest first (default)"
    )
    found.set_defaults(run=_run_search)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-l",
        "--label",
        action="append",
        type=parse_label,
        default=[],
        metavar="KEY=VALUE",
        help="select lines with this label (repeatable)",
    )
    parser.add_argument("--q", help="only lines matching this query (q syntax)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--url", help="logriver base URL (LOGRIVER_URL, default http://127.0.0.1:8080)")
    parser.add_argument("--token", help="API token (LOGRIVER_TOKEN)")


def target_from_args(args: argparse.Namespace) -> Target:
    """Flags win over the LOGRIVER_URL / LOGRIVER_TOKEN settings."""
    settings = Settings.from_env(os.environ)
    return Target(args.url or settings.url, args.token or settings.token or None)


def _run_tail(args: argparse.Namespace) -> int:
    selection = Selection(dict(args.label), args.q)
    client = TailClient(target_from_args(args), selection, sys.stdout, sys.stderr, args.json, since=args.since)
    try:
        return asyncio.run(client.run(args.max_lines))
    except KeyboardInterrupt:
        return 130


def _run_search(args: argparse.Namespace) -> int:
    if args.query and args.q:
        print("logriver: give the query once, either as an argument or with --q", file=sys.stderr)
        return 2
    if args.since and args.start:
        print("logriver: --since and --start both set the window start; give one", file=sys.stderr)
        return 2
    selection = Selection(dict(args.label), args.query or args.q)
    return asyncio.run(
        search(
            target_from_args(args),
            selection,
            sys.stdout,
            sys.stderr,
            as_json=args.json,
            start=args.since or args.start,
            end=args.end,
            limit=args.limit,
            sort=args.sort,
        )
    )
