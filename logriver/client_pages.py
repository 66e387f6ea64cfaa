"""`logriver streams` and `logriver lines`: page the registry and a stream from a script.

Both follow the API's tokens to the end (or to `--limit`), one request per page, printing as
they go, so a pipe sees the first page at once and memory stays one page whatever the total.
A page of streams without `next_token` is the last one (servers before paging answered only
`{"streams": [...]}`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

import aiohttp
import orjson

from logriver.client_cli import ClientError, Target, format_line, parse_label, refusal_text, target_from_args

STREAMS_PAGE = 500  # streams per request; the server allows up to 1000
LINES_PAGE = 5000  # lines per request; the server allows up to 10000


class Pages:
    """GET one path page after page with one session; each answer's token selects the next page."""

    def __init__(self, target: Target, path: str, params: dict[str, str]):
        self.target, self.path, self.params = target, path, params

    async def walk(self, token_field: str, first_token: str | None = None) -> AsyncIterator[dict[str, Any]]:
        token = first_token
        timeout = aiohttp.ClientTimeout(total=120, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                params = self.params | ({"token": token} if token else {})
                url = self.target.endpoint(self.path)
                async with session.get(url, params=params, headers=self.target.headers()) as response:
                    if response.status != 200:
                        raise ClientError(await refusal_text(response))
                    page: dict[str, Any] = await response.json()
                yield page
                token = page.get(token_field)
                if not token:
                    return


def format_stream(stream: dict[str, Any], as_json: bool) -> str:
    """`last_timestamp lines {labels}` (`-` for a stream without lines), or the stream as JSON."""
    if as_json:
        return orjson.dumps(stream).decode()
    labels = ",".join(f"{key}={value}" for key, value in sorted(stream.get("labels", {}).items()))
    return f"{stream.get('last_timestamp') or '-'} {stream.get('lines', 0)} {{{labels}}}"


async def list_streams(
    target: Target,
    params: dict[str, str],
    out: TextIO,
    *,
    limit: int | None = None,
    page_size: int = STREAMS_PAGE,
    as_json: bool = False,
) -> int:
    """Print the streams page by page, at most `limit`; how many were printed."""
    printed = 0
    pages = Pages(target, "/api/v1/streams", params | {"limit": str(_next_size(page_size, limit, 0))})
    async for page in pages.walk("next_token"):
        for stream in page["streams"]:
            print(format_stream(stream, as_json), file=out, flush=True)
            printed += 1
        if limit is not None and printed >= limit:
            return printed
        pages.params["limit"] = str(_next_size(page_size, limit, printed))
    return printed


async def page_lines(
    target: Target,
    params: dict[str, str],
    out: TextIO,
    err: TextIO,
    *,
    limit: int | None = None,
    page_size: int = LINES_PAGE,
    newest_first: bool = False,
    first_token: str | None = None,
    style: str = "line",
) -> int:
    """Print lines oldest first from the head, or newest first from the tail; how many were printed.

    Each request asks for no more than the lines still wanted, so `--limit` always ends on a
    page boundary and the page's token continues exactly after the last line printed.
    """
    printed = 0
    token_field = "older_token" if newest_first else "newer_token"
    more_field = "has_more_older" if newest_first else "has_more_newer"
    pages = Pages(target, "/api/v1/lines", params | {"limit": str(_next_size(page_size, limit, 0))})
    async for page in pages.walk(token_field, first_token):
        for line in page["lines"][::-1] if newest_first else page["lines"]:
            print(_render_line(line, style), file=out)
        printed += len(page["lines"])
        if not page[more_field]:
            return printed
        if limit is not None and printed >= limit:
            print(f"logriver: more lines; continue with --page-token {page[token_field]}", file=err)
            return printed
        pages.params["limit"] = str(_next_size(page_size, limit, printed))
    return printed


def _next_size(page_size: int, limit: int | None, printed: int) -> int:
    return page_size if limit is None else max(1, min(page_size, limit - printed))


def _render_line(line: dict[str, Any], style: str) -> str:
    if style == "message":
        return str(line["message"])
    return format_line(line, as_json=style == "json")


def add_page_commands(commands: Any) -> None:
    """Register `streams` and `lines` on the `logriver` command line."""
    streams = commands.add_parser("streams", help="list streams, most recently active first, page after page")
    _add_selection(streams)
    streams.add_argument("--match", help="only streams with a label value containing this text")
    streams.add_argument(
        "--sort", choices=["recent", "labels"], default="recent", help="recent: newest line first (default); labels"
    )
    streams.add_argument("--limit", type=_count, help="print at most this many streams (default all)")
    streams.add_argument(
        "--page-size", type=_count, default=STREAMS_PAGE, help=f"streams per request (default {STREAMS_PAGE})"
    )
    streams.add_argument("--json", action="store_true", help="one JSON object per stream")
    streams.set_defaults(run=_run_streams)

    lines = commands.add_parser("lines", help="print a stream's lines from its start or end, page after page")
    _add_selection(lines)
    lines.add_argument("--stream-id", help="one stream exactly, by its id")
    lines.add_argument("--q", help="only lines matching this query (q syntax)")
    lines.add_argument("--start", help="window start (RFC 3339 or epoch ms), inclusive")
    lines.add_argument("--end", help="window end (RFC 3339 or epoch ms), exclusive")
    lines.add_argument(
        "--from", dest="origin", choices=["head", "tail"], default="head",
        help="head: oldest first (default); tail: newest first",
    )  # fmt: skip
    lines.add_argument("--page-token", help="continue from the token an earlier run printed (with the same filters)")
    lines.add_argument("--limit", type=_count, help="print at most this many lines (default all)")
    lines.add_argument("--page-size", type=_count, default=LINES_PAGE, help=f"lines per request (default {LINES_PAGE})")
    style = lines.add_mutually_exclusive_group()
    style.add_argument("--json", action="store_const", dest="style", const="json", help="one JSON object per line")
    style.add_argument("--messages", action="store_const", dest="style", const="message", help="the message only")
    lines.set_defaults(run=_run_lines, style="line")


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-l", "--label", action="append", type=parse_label, default=[], metavar="KEY=VALUE",
        help="only this label value (repeatable)",
    )  # fmt: skip
    parser.add_argument("--url", help="logriver base URL (LOGRIVER_URL, default http://127.0.0.1:8080)")
    parser.add_argument("--token", help="API token (LOGRIVER_TOKEN)")


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _label_params(labels: list[tuple[str, str]]) -> dict[str, str]:
    return {f"labels.{key}": value for key, value in labels}


def _run_streams(args: argparse.Namespace) -> int:
    params = _label_params(args.label)
    if args.match:
        params["match"] = args.match
    if args.sort == "labels":
        params["sort"] = "labels"
    listing = list_streams(
        target_from_args(args), params, sys.stdout, limit=args.limit, page_size=args.page_size, as_json=args.json
    )
    return _run(listing)


def _run_lines(args: argparse.Namespace) -> int:
    params = _label_params(args.label)
    for name, value in (("stream_id", args.stream_id), ("q", args.q), ("start", args.start), ("end", args.end)):
        if value:
            params[name] = value
    if args.origin == "tail" and not args.page_token:
        params["from"] = "tail"
    coro = page_lines(
        target_from_args(args), params, sys.stdout, sys.stderr,
        limit=args.limit, page_size=args.page_size, newest_first=args.origin == "tail",
        first_token=args.page_token, style=args.style,
    )  # fmt: skip
    return _run(coro)


def _run(coro: Any) -> int:
    try:
        asyncio.run(coro)
    except (TimeoutError, ClientError, aiohttp.ClientError) as exc:
        print(f"logriver: {exc or exc.__class__.__name__}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `| head`: the reader has all it wants
        return 0
    return 0
