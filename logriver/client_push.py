"""`logriver push`: ship lines from stdin or files to POST /api/v1/lines, each stored once, in order.

- Order: a line's `order_num` is its position in the input (0, 1, ...), and arrival timestamps
  never go backwards, so lines read back in input order even when many share a timestamp.
- Exactly once: each line carries the client id `<run id>-<position>`. A batch resent after a
  429/503, a timeout or a lost connection stores nothing twice (identity rule 1 of docs/api.md:
  same stream and same id is the same line). Giving the same `--run-id` again with the same
  input resumes a run that died half-way, without duplicates.
- Batches: up to `--batch-lines` lines or `--batch-bytes`, or whatever arrived within
  `--flush-seconds`, so the lines of a slow producer appear within about a second.
- Input is read by a thread in chunks of what the pipe holds (not line by line), so the event
  loop hops once per chunk and a blocked read never delays a flush.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import gzip
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, BinaryIO, TextIO

import aiohttp
import orjson

from logriver.client_cli import Target, parse_label, refusal_text, target_from_args
from logriver.core.timeutil import MAX_STORABLE_NS, MIN_STORABLE_NS, NS_PER_SECOND, format_rfc3339_ns

RETRYABLE = frozenset({429, 502, 503, 504})  # the server asks for a retry; 4xx else is final
BACKOFF_MIN_SECONDS = 0.5  # without Retry-After (connection lost): doubling up to the max
BACKOFF_MAX_SECONDS = 30.0
GZIP_FROM_BYTES = 16 * 1024  # smaller bodies cost more to compress than they save
LINE_OVERHEAD_BYTES = 96  # JSON around one message: timestamp, order_num, id
SHOWN_REFUSALS = 10  # refused lines described one by one; the rest are counted
READ_CHUNK = 1 << 16


class PushError(Exception):
    """The push cannot go on: the server refused a request, or retrying did not help in time."""


@dataclass(frozen=True)
class TimestampRule:
    """Take each line's time from its text: `regex` finds it (group `ts`, else 1, else all), `fmt` reads it."""

    regex: re.Pattern[str]
    fmt: str = "iso"  # iso (RFC 3339 / ISO 8601, naive = UTC), epoch, epoch_ms, or a strptime format

    def find_ns(self, message: str) -> int | None:
        match = self.regex.search(message)
        if match is None:
            return None
        text = match.group("ts") if "ts" in self.regex.groupindex else match.group(1 if match.re.groups else 0)
        try:
            found = self._parse(text.strip())
        except (ValueError, ArithmeticError):  # ArithmeticError: overflow, also Decimal's
            return None
        # Outside what can be printed and stored, the text is not this line's time after all.
        return found if MIN_STORABLE_NS <= found <= MAX_STORABLE_NS else None

    def _parse(self, text: str) -> int:
        # Decimal, not float: a float has no room for the nanoseconds of a current epoch time.
        if self.fmt in ("epoch", "epoch_ms"):
            number = Decimal(text)
            if not number.is_finite() or number.adjusted() > 20:  # `1e999999` would take minutes to expand
                raise ValueError(f"{text!r} is no epoch time")
            return int(number * (NS_PER_SECOND if self.fmt == "epoch" else 1_000_000))
        parsed = datetime.fromisoformat(text) if self.fmt == "iso" else datetime.strptime(text, self.fmt)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


@dataclass(frozen=True)
class PushOptions:
    labels: dict[str, str]
    run_id: str
    timestamp: TimestampRule | None = None  # None: the time each line was read
    batch_lines: int = 5000
    batch_bytes: int = 1 << 20
    flush_seconds: float = 1.0
    retry_seconds: float = 300.0  # how long one batch is retried before the push gives up
    refresh: bool = False  # each batch answers once its lines are searchable (a script reads right after)


@dataclass
class Batch:
    first: int  # input position of its first line
    lines: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0


class Stamper:
    """Gives each line its `@timestamp`: from its text when a rule is set, else its arrival."""

    def __init__(self, rule: TimestampRule | None):
        self.rule = rule
        self.last_ns = 0

    def stamp(self, message: str, arrival_ns: int) -> str:
        found = self.rule.find_ns(message) if self.rule else None
        if found is not None:
            self.last_ns = found
        elif self.rule is None or self.last_ns == 0:
            # Arrival never goes backwards; a line without a time of its own (a stack trace's
            # continuation) takes its predecessor's, so it stays next to it.
            self.last_ns = max(self.last_ns, arrival_ns)
        return format_rfc3339_ns(self.last_ns)


class InputReader(threading.Thread):
    """Reads the inputs in order and hands `(arrival_ns, [line bytes])` chunks to the event loop."""

    EOF: tuple[int, list[bytes]] = (0, [])

    def __init__(
        self, sources: list[str], queue: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop, tee: TextIO | None
    ):
        super().__init__(daemon=True)  # a refused push exits without waiting for a blocked read
        self.sources, self.queue, self.loop, self.tee = sources, queue, loop, tee

    def run(self) -> None:
        try:
            for source in self.sources:
                if source == "-":
                    self._read(sys.stdin.buffer)
                else:
                    with open(source, "rb") as stream:
                        self._read(stream)
            self._hand(self.EOF)
        except OSError as exc:
            self._hand(exc)

    def _read(self, stream: BinaryIO) -> None:
        partial = b""
        read1 = getattr(stream, "read1", stream.read)
        while chunk := read1(READ_CHUNK):
            if self.tee is not None:
                self.tee.buffer.write(chunk)
                self.tee.flush()
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            if lines:
                self._hand((time.time_ns(), lines))
        if partial:
            self._hand((time.time_ns(), [partial]))

    def _hand(self, item: Any) -> None:
        asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop).result()


class Pusher:
    """Batches the lines and sends each batch until it is stored, refused or out of retries."""

    def __init__(self, target: Target, options: PushOptions, err: TextIO):
        self.target, self.options, self.err = target, options, err
        self.stamper = Stamper(options.timestamp)
        self.position = 0
        self.accepted = 0
        self.refused: list[str] = []
        self.refused_count = 0

    async def run(self, sources: list[str], tee: TextIO | None = None) -> int:
        """0 when every line was stored, 1 when some were refused or the push gave up."""
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)
        InputReader(sources, queue, asyncio.get_running_loop(), tee).start()
        timeout = aiohttp.ClientTimeout(total=120, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                await self._pump(queue, session)
            except PushError as exc:
                print(f"logriver: {exc}; lines from input line {self.position + 1} on were not sent", file=self.err)
                return 1
        return self._report()

    async def _pump(self, queue: asyncio.Queue[Any], session: aiohttp.ClientSession) -> None:
        batch = Batch(self.position)
        started = 0.0
        while True:
            wait = None if not batch.lines else max(0.0, started + self.options.flush_seconds - time.monotonic())
            try:
                item = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                batch = await self._flush(session, batch)
                continue
            if isinstance(item, OSError):
                raise PushError(f"cannot read {item.filename}: {item.strerror}")
            if item is InputReader.EOF:
                await self._flush(session, batch)
                return
            if not batch.lines:
                started = time.monotonic()
            batch = await self._add(session, batch, item)

    async def _add(self, session: aiohttp.ClientSession, batch: Batch, item: tuple[int, list[bytes]]) -> Batch:
        arrival_ns, raws = item
        for raw in raws:
            message = raw.removesuffix(b"\r").decode("utf-8", "replace")
            position = self.position + len(batch.lines)
            batch.lines.append({
                "@timestamp": self.stamper.stamp(message, arrival_ns),
                "message": message,
                "order_num": position,
                "id": f"{self.options.run_id}-{position}",
            })  # fmt: skip
            batch.size += len(raw) + LINE_OVERHEAD_BYTES
            if len(batch.lines) >= self.options.batch_lines or batch.size >= self.options.batch_bytes:
                batch = await self._flush(session, batch)
        return batch

    async def _flush(self, session: aiohttp.ClientSession, batch: Batch) -> Batch:
        if batch.lines:
            result = await self._send(session, _body(self.options.labels, batch.lines))
            self._note(batch, result)
            self.position += len(batch.lines)
        return Batch(self.position)

    async def _send(self, session: aiohttp.ClientSession, body: bytes) -> dict[str, Any]:
        """POST one batch; retry the same bytes as the server asks, until `retry_seconds` have passed."""
        headers = self.target.headers() | {"Content-Type": "application/json"}
        if len(body) >= GZIP_FROM_BYTES:
            body, headers["Content-Encoding"] = gzip.compress(body, compresslevel=1), "gzip"
        give_up = time.monotonic() + self.options.retry_seconds
        backoff = BACKOFF_MIN_SECONDS
        while True:
            try:
                url = self.target.endpoint("/api/v1/lines" + ("?refresh=wait_for" if self.options.refresh else ""))
                async with session.post(url, data=body, headers=headers) as response:
                    if response.status == 200:
                        result: dict[str, Any] = await response.json()
                        return result
                    if response.status not in RETRYABLE:
                        raise PushError(f"the server refused the batch: {await refusal_text(response)}")
                    reason = await refusal_text(response)
                    wait = retry_after_seconds(response.headers.get("Retry-After")) or backoff
            except (TimeoutError, aiohttp.ClientError) as exc:
                reason, wait = f"connection failed ({exc.__class__.__name__}: {exc})", backoff
            if time.monotonic() + wait > give_up:
                raise PushError(f"gave up after {self.options.retry_seconds:g} s of retries; last: {reason}")
            print(f"logriver: {reason}; retrying in {wait:g} s", file=self.err, flush=True)
            await asyncio.sleep(wait)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    def _note(self, batch: Batch, result: dict[str, Any]) -> None:
        self.accepted += int(result.get("accepted", 0))
        for rejection in result.get("rejected", []):
            self.refused_count += 1
            if len(self.refused) < SHOWN_REFUSALS:
                line_number = batch.first + int(rejection["index"]) + 1
                self.refused.append(f"input line {line_number}: {rejection['type']}: {rejection['message']}")

    def _report(self) -> int:
        if not self.refused_count:
            return 0
        print(f"logriver: {self.refused_count} of {self.position} lines were refused:", file=self.err)
        for text in self.refused:
            print(f"  {text}", file=self.err)
        if self.refused_count > len(self.refused):
            print(f"  ... and {self.refused_count - len(self.refused)} more", file=self.err)
        return 1


def _body(labels: dict[str, str], lines: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"labels": labels, "lines": lines})


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def timestamp_rule(regex: str | None, fmt: str) -> TimestampRule | None:
    if regex is None:
        return None
    try:
        return TimestampRule(re.compile(regex), fmt)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"--timestamp-regex {regex!r} is not a regular expression: {exc}") from exc


def add_push_command(commands: Any) -> None:
    """Register `push` on the `logriver` command line."""
    push = commands.add_parser("push", help="send lines from stdin or files to one stream, in order, each stored once")
    push.add_argument("files", nargs="*", default=["-"], help="files to read in order; - or none: stdin")
    push.add_argument(
        "-l", "--label", action="append", type=parse_label, default=[], metavar="KEY=VALUE",
        help="a label of the stream (repeatable, at least one)",
    )  # fmt: skip
    push.add_argument(
        "--timestamp-regex", metavar="REGEX", help="take each line's time from its text: group `ts`, else 1"
    )
    push.add_argument(
        "--timestamp-format", default="iso", metavar="FORMAT",
        help="iso (default), epoch, epoch_ms, or a strptime format such as '%%d/%%b/%%Y:%%H:%%M:%%S %%z'",
    )  # fmt: skip
    push.add_argument(
        "--run-id", help="prefix of the lines' client ids; repeat a run's id to resume it without duplicates"
    )
    push.add_argument(
        "--batch-lines", type=_positive_int, default=5000, help="lines per request at most (default 5000)"
    )
    push.add_argument("--flush-seconds", type=float, default=1.0, help="send what arrived after this long (default 1)")
    push.add_argument("--retry-seconds", type=float, default=300.0, help="give up retrying a batch after this long")
    push.add_argument("--tee", action="store_true", help="also copy the input to stdout")
    push.add_argument("--refresh", action="store_true", help="return once the lines are searchable")
    push.add_argument("--url", help="logriver base URL (LOGRIVER_URL, default http://127.0.0.1:8080)")
    push.add_argument("--token", help="API token with the write role (LOGRIVER_TOKEN)")
    push.set_defaults(run=_run_push)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _run_push(args: argparse.Namespace) -> int:
    if not args.label:
        print("logriver: push needs at least one -l KEY=VALUE: the labels name the stream", file=sys.stderr)
        return 2
    try:
        rule = timestamp_rule(args.timestamp_regex, args.timestamp_format)
    except argparse.ArgumentTypeError as exc:
        print(f"logriver: {exc}", file=sys.stderr)
        return 2
    missing = [path for path in args.files if path != "-" and not os.path.isfile(path)]
    if missing:
        print(f"logriver: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    options = PushOptions(
        labels=dict(args.label),
        run_id=args.run_id or secrets.token_hex(8),
        timestamp=rule,
        batch_lines=args.batch_lines,
        flush_seconds=args.flush_seconds,
        retry_seconds=args.retry_seconds,
        refresh=args.refresh,
    )
    pusher = Pusher(target_from_args(args), options, sys.stderr)
    try:
        return asyncio.run(pusher.run(list(args.files), sys.stdout if args.tee else None))
    except KeyboardInterrupt:
        return 130
