"""Live tail: one shared poller per app follows lines in arrival order and fans them out.

Why arrival order. A tail ordered by @timestamp with a timestamp cursor cannot see a line that
arrives with a timestamp older than lines already sent. So the tail follows `seq`, the
unique arrival order the writer assigns (nanoseconds + node), and sends lines in the order
they were accepted, whatever their @timestamp.

Sharing. A *group* is one distinct filter (tenant, labels, q, window, stream_id). Every poll
round sends one msearch holding one search per group; tails with the same filter share their
group's search, and any number of groups cost one request per round. q is full text, so it is
evaluated by Elasticsearch in the group's search rather than re-implemented as a matcher.

Settling. A seq is assigned just before its bulk request is indexed, so a line with a smaller
seq can become visible after one with a larger seq. Each round therefore notes the time T,
refreshes the lines indices (so that every bulk request finished before T is searchable,
whatever the index refresh interval), and reads only up to seq T - `tail_settle_seconds`:
a bulk request that took less than the settle time is then complete and visible below that
cut, so lines go out in seq order and a position (the largest seq sent) is an exact resume
point. Delivery latency is about settle + poll interval + one refresh and one search:
0.3 s + up to 0.2 s + a few tens of ms with the defaults. Refreshing on demand costs a refresh
per round while tails are open (a no-op on shards that received nothing); waiting for the
periodic refresh instead would add the refresh interval (1 s) to every line. A refresh of a
shard being written costs Elasticsearch a segment, so rounds slow to tail_idle_poll_seconds
once no tail has had a line for a while (TailPace).

Ahead of the settle time. This process knows when its own writes are stored (core/handoff.py
gives the largest seq of its node below which every write has returned). A returning write
wakes the poller, and each round also reads this process's lines above the cut up to that
bound, sending them at once, in seq order, up to the first visible line of another worker
(poll_once argues why that keeps arrival order). The settled scan reads them again later; each
subscription sends a line the first time it can and only moves its position the second time.
An event id is then a TailPosition: the settled position plus, per node, the last line sent
ahead, so a resume skips exactly what was sent.

Clocks. A seq is a time on the writer's clock and the cut a time on the reader's; both come
from the storage's clock, which every process aligns to the Elasticsearch cluster's
(core/clock.py), so writers on hosts whose clocks differ still agree on arrival order.

Late lines. A line that becomes visible even later (a slow bulk, retries) is still sent, once:
each search also re-scans the last RESCAN_SECONDS below the group's high mark (at most
RECENT_MAX lines), excluding the ids it already read.

Resuming. The SSE event id is the position. A tail resumed from P gets the lines with
seq > P (minus those P's ahead parts name): it reads them from Elasticsearch up to its
group's high mark, then joins the live fan-out. The one line a resume can miss is one whose
bulk request took longer than the settle time to be indexed, while the client was away, with a
seq below P.

Slow consumers. The poller never waits for a client. Each subscription queues at most
`tail_buffer_lines`; lines that do not fit are counted and reported as one `Dropped` event at
the place they were lost. A group reads at most that many lines per round, so a consumer
that keeps up never drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from logriver.core.errors import InvalidQueryError, LogriverError
from logriver.core.handoff import LocalArrivals, Write, WrittenStream
from logriver.core.metrics import Metrics
from logriver.core.settings import Settings
from logriver.core.timeutil import NS_PER_SECOND
from logriver.query.arrivals import (
    NODE_AT,
    ArrivalReader,
    ArrivalScan,
    TailPosition,
    build_arrival_search,
    position_at,
    position_ns,
)
from logriver.query.cursor import query_fingerprint
from logriver.query.reader import Line, LineQuery

log = logging.getLogger("logriver.tail")

RESCAN_SECONDS = 30  # how far below the high mark late lines are still looked for
RECENT_MAX = 1000  # ids a group remembers (and excludes) in that window
FAILING_POLL_SECONDS = 1.0  # the pause between rounds while storage fails
HEARTBEAT_SECONDS = 15.0  # comment sent on idle streams so proxies keep them open
MAX_BATCH = 10000  # Elasticsearch's default result window
LOCAL_ROUND_GAP = 0.05  # the least time between round starts when this process's own writes wake the poller
IDLE_AFTER_SECONDS = 2.0  # no filter found a line this long: rounds slow to tail_idle_poll_seconds


@dataclass(frozen=True)
class Opened:
    position: str


@dataclass(frozen=True)
class TailLine:
    line: Line
    position: str  # resume point after this line


@dataclass(frozen=True)
class Dropped:
    count: int


@dataclass(frozen=True)
class Heartbeat:
    pass


@dataclass(frozen=True)
class _Settled:
    """Queued where a line sent ahead reached the settled cut: the position's settled part moves."""

    seq: str


@dataclass(frozen=True)
class _Ahead:
    """A line queued ahead of the settled cut: it moves the position's ahead part, not its settled one."""

    line: Line


@dataclass(frozen=True)
class Ended:
    reason: str  # max_duration, shutdown or error
    position: str
    error: LogriverError | None = None


TailEvent = Opened | TailLine | Dropped | Heartbeat | Ended


def may_hold(query: LineQuery, stream: WrittenStream) -> bool:
    """Whether lines of `stream` can match `query`, its text, field and time parts aside.

    The same test as the search's stream filter (core/filters.py): tenant and labels exactly.
    """
    if query.tenant != stream.tenant:
        return False
    if query.stream_id is not None and query.stream_id != stream.stream_id:
        return False
    if query.stream_ids is not None and stream.stream_id not in query.stream_ids:
        return False
    return all(stream.labels.get(key) == value for key, value in query.labels.items())


class _Group:
    """The shared scan of one filter: what it has read, and who listens."""

    def __init__(self, key: str, query: LineQuery, start: str):
        self.key = key
        self.query = query
        self.low = start  # seqs at or below are never read again
        self.high = start  # the largest seq read
        self.recent: deque[tuple[str, str]] = deque()  # (seq, id) read above low, in reading order
        self.recent_ids: set[str] = set()
        self.ahead: dict[str, str] = {}  # id -> seq of this process's lines read above the cut, not yet below it
        self.ahead_high = ""  # the largest seq ever read ahead
        self.subscriptions: set[Subscription] = set()

    def scan(self, cut: str, size: int) -> ArrivalScan:
        return ArrivalScan(self.query, self.low, cut, size, tuple(self.recent_ids))

    def scan_ahead(self, cut: str, local: str, size: int) -> ArrivalScan:
        """This process's stored lines above the cut (other nodes' lines in the range are read, then left)."""
        return ArrivalScan(self.query, max(cut, self.low), local, size, tuple(self.ahead))

    def may_offer(self, line: Line) -> bool:
        """Whether a later round can still read (and offer) this line."""
        return line.id not in self.recent_ids and line.key.seq > self.low

    def accept_ahead(self, lines: list[Line], node: str) -> None:
        """Fan out this process's lines read above the cut, in seq order, up to the first line of
        another node: that one, and what follows it, wait for the settled scan (TailHub.poll_once
        says why). The settled scan reads them again when the cut passes them and offers them
        once more; subscriptions that sent them skip that."""
        for line in lines:
            seq = line.key.seq
            if seq[NODE_AT:] != node:
                return
            if line.id in self.ahead or line.id in self.recent_ids:
                continue
            self.ahead[line.id] = seq
            self.ahead_high = max(self.ahead_high, seq)
            for subscription in list(self.subscriptions):
                subscription.offer(line, ahead=True)

    def accept(self, lines: list[Line]) -> None:
        """Fan out a round's lines, then forget what fell out of the re-scan window."""
        for line in lines:
            self.ahead.pop(line.id, None)
            self.recent.append((line.key.seq, line.id))
            self.recent_ids.add(line.id)
            self.high = max(self.high, line.key.seq)
            for subscription in list(self.subscriptions):
                subscription.offer(line)
        floor = position_at(position_ns(self.high) - RESCAN_SECONDS * NS_PER_SECOND)
        self.low = max(self.low, floor)
        while self.recent and (len(self.recent) > RECENT_MAX or self.recent[0][0] <= self.low):
            seq, line_id = self.recent.popleft()
            self.recent_ids.discard(line_id)
            self.low = max(self.low, seq)
        for line_id in [i for i, seq in self.ahead.items() if seq <= self.low]:
            del self.ahead[line_id]  # a line stored too late for the re-scan window

    def end(self, reason: str, error: LogriverError | None = None) -> None:
        for subscription in list(self.subscriptions):
            subscription.end(reason, error)


class Subscription:
    """One client's view of a group: a bounded queue, a position, and its catch-up."""

    def __init__(self, hub: TailHub, group: _Group, start: TailPosition, capacity: int, deadline: float):
        self.hub, self.group = hub, group
        self.start = self.position = start
        self.capacity = capacity
        self.deadline = deadline
        self.live = start.settled >= group.high  # else it catches up first
        self.high_water = 0  # most lines ever queued at once
        self.dropped = 0
        self._queue: deque[Line | _Ahead | Dropped | _Settled] = deque()
        self._ahead: dict[str, str] = {}  # id -> seq of lines sent ahead, until the group offers them settled
        self._declined = ""  # the largest seq offered ahead and not taken: nothing goes ahead until it is settled
        self._queued_settled = start.settled  # the settled position once the queue is sent
        self._ahead_from: str | None = group.ahead_high if self.live else None  # see _takes_ahead
        self._queued: dict[str, Line] = {}
        self._skip: set[str] = set()  # queued lines the catch-up already sent
        self._sent_early: set[str] = set()  # lines the catch-up sent before the group read them
        self._pending_drops = 0
        self._catch_up_upto = start.settled
        self._ended: Ended | None = None
        self._wake = asyncio.Event()

    def offer(self, line: Line, ahead: bool = False) -> None:
        """Called by the poller; never blocks: a full queue counts the line as dropped.

        A line offered `ahead` (this process's own, above the settled cut) is offered again when
        the cut passes it: it goes out the first time this tail can take it, and the second offer
        only moves the settled position, in queue order."""
        seq = line.key.seq
        if self.start.covers(seq) or line.id in self._sent_early:
            self._sent_early.discard(line.id)
            return
        if ahead:
            if self._takes_ahead() and len(self._queued) < self.capacity:
                self._ahead[line.id] = seq
                self._enqueue(_Ahead(line))
            else:
                # It comes again with the settled lines; a later line sent ahead meanwhile would overtake it.
                self._declined = max(self._declined, seq)
            return
        if line.id in self._ahead:
            del self._ahead[line.id]
            self._queue.append(_Settled(seq))
            self._queued_settled = max(self._queued_settled, seq)
            return
        if not self.live and seq > self._catch_up_upto:
            return  # the catch-up's next read covers it
        self._queued_settled = max(self._queued_settled, seq)
        if len(self._queued) >= self.capacity:
            self._pending_drops += 1
            self.dropped += 1
            self.hub.metrics.tail_dropped.inc()
            return
        self._enqueue(line)

    def _enqueue(self, item: Line | _Ahead) -> None:
        line = item.line if isinstance(item, _Ahead) else item
        if self._pending_drops:
            self._queue.append(Dropped(self._pending_drops))
            self._pending_drops = 0
        self._queue.append(item)
        self._queued[line.id] = line
        self.high_water = max(self.high_water, len(self._queued))
        self._wake.set()

    def _takes_ahead(self) -> bool:
        """Whether a line sent ahead now keeps the position exact: its `ahead` part claims every line
        of this node up to it, so this tail must have been sent all that the group read ahead before
        it was live. A tail live from its start has; a resumed one, once the settled lines it queued
        pass what the group had read ahead when it went live (a settle time later)."""
        if self._ahead_from is None or self._ended is not None or self._declined > self._queued_settled:
            return False
        if len(self._ahead) >= self.capacity:  # lines stored too late ever to be offered settled
            self._ahead = {i: seq for i, seq in self._ahead.items() if seq > self.group.low}
        return self._ahead_from <= self._queued_settled

    def end(self, reason: str, error: LogriverError | None = None) -> None:
        if self._ended is None:
            self._ended = Ended(reason, self.position.text(), error)
            self._wake.set()

    async def events(self) -> AsyncGenerator[TailEvent, None]:
        """Opened, then lines (caught up, then live), drops, heartbeats, and one Ended."""
        yield Opened(self.position.text())
        delivered = self.hub.metrics.tail_delivered
        async for event in self._catch_up():
            delivered.inc()  # the catch-up yields lines only
            yield event
        self.live = True
        if self._ahead_from is None:
            self._ahead_from = self.group.ahead_high
        while True:
            event = await self._next()
            if isinstance(event, TailLine):
                delivered.inc()
            yield event
            if isinstance(event, Ended):
                return

    async def _catch_up(self) -> AsyncIterator[TailEvent]:
        """Read (position, group high] from Elasticsearch until level with the group."""
        size = self.hub.batch
        while self.position.settled < self.group.high and self._ended is None:
            if asyncio.get_running_loop().time() >= self.deadline:
                return
            upto = self._catch_up_upto = self.group.high
            lines = await self._read(upto, size)
            if lines is None:
                continue
            for line in lines:
                self._mark_sent(line)
                self.position = self.position.after_settled(line.key.seq)
                if not self.start.covers(line.key.seq):
                    yield TailLine(line, self.position.text())
            if len(lines) < size:
                self.position = self.position.after_settled(upto)
            self._queued_settled = max(self._queued_settled, self.position.settled)

    async def _read(self, upto: str, size: int) -> list[Line] | None:
        try:
            scan = ArrivalScan(self.group.query, self.position.settled, upto, size)
            return await self.hub.arrivals.scan(scan)
        except InvalidQueryError as error:
            self.end("error", error)
        except LogriverError:
            await asyncio.sleep(self.hub.poll_seconds)  # storage trouble passes; retry as the poller does
        return None

    def _mark_sent(self, line: Line) -> None:
        # The poller may offer this line too, before or after now; it must not go out twice.
        if line.id in self._queued:
            self._skip.add(line.id)
        elif self.group.may_offer(line) and len(self._sent_early) < RECENT_MAX:
            self._sent_early.add(line.id)

    async def _next(self) -> TailEvent:
        while True:
            if asyncio.get_running_loop().time() >= self.deadline:
                self.end("max_duration")
            if self._ended is not None:
                return self._ended
            if self._queue:
                item = self._queue.popleft()
                if isinstance(item, Dropped):
                    return item
                if isinstance(item, _Settled):
                    self.position = self.position.after_settled(item.seq)
                    continue
                line = item.line if isinstance(item, _Ahead) else item
                self._queued.pop(line.id, None)
                if line.id in self._skip:
                    self._skip.discard(line.id)
                    continue
                move = self.position.after_ahead if isinstance(item, _Ahead) else self.position.after_settled
                self.position = move(line.key.seq)
                return TailLine(line, self.position.text())
            if self._pending_drops:
                count, self._pending_drops = self._pending_drops, 0
                return Dropped(count)
            event = await self._wait()
            if event is not None:
                return event

    async def _wait(self) -> TailEvent | None:
        remaining = self.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            self.end("max_duration")
            return None
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), min(self.hub.heartbeat_seconds, remaining))
        except TimeoutError:
            return Heartbeat() if remaining > self.hub.heartbeat_seconds else None
        return None


class TailPace:
    """The pause between round starts: short while lines come, long once nothing has for a while.

    Each round refreshes the lines indices, and a refresh writes a new segment on every shard
    that received lines since the last one: under heavy writes, refreshes five or more times a
    second cost Elasticsearch much of its indexing (bench/, docs/benchmarks.md: a tail open on
    a stream nobody writes cut one worker's ingest by about 40 %). So once no filter has found a
    line for IDLE_AFTER_SECONDS, rounds come every `idle_seconds` (by default the index refresh
    interval, which Elasticsearch spends anyway). Lines found, a local write that a filter could
    match, or a new tail bring the short pause back at once.
    """

    def __init__(self, poll_seconds: float, idle_seconds: float):
        self.poll_seconds = poll_seconds
        self.idle_seconds = max(idle_seconds, poll_seconds)
        self.busy_at = float("-inf")

    def busy(self, now: float) -> None:
        self.busy_at = now

    def pause(self, now: float) -> float:
        return self.poll_seconds if now - self.busy_at < IDLE_AFTER_SECONDS else self.idle_seconds


class TailHub:
    """The app's one poller and its groups; `subscribe` gives each client its event stream."""

    def __init__(
        self, arrivals: ArrivalReader, settings: Settings, metrics: Metrics, local: LocalArrivals | None = None
    ):
        self.arrivals = arrivals
        self.local = local  # this process's writes, read ahead of the settle time when given
        self.metrics = metrics
        self.poll_seconds = settings.tail_poll_seconds
        self.pace = TailPace(settings.tail_poll_seconds, settings.tail_idle_poll_seconds)
        self.capacity = max(settings.tail_buffer_lines, 1)
        self.batch = min(self.capacity, MAX_BATCH)
        self.max_seconds = settings.tail_max_seconds
        self.settle_seconds = settings.tail_settle_seconds
        self.clock = arrivals.storage.clock
        self.heartbeat_seconds = HEARTBEAT_SECONDS
        self.groups: dict[str, _Group] = {}
        self.lines_read = 0
        self._closed = False
        self._failing = False
        self._task: asyncio.Task[None] | None = None
        self._stored = asyncio.Event()  # this process stored lines since the last round began
        self._round = asyncio.Lock()  # rounds never overlap, whoever starts them
        if local is not None:
            local.listen(self._on_local_write)

    def subscribe(self, query: LineQuery, resume_from: str | None = None, since_ns: int | None = None) -> Subscription:
        """Join (or start) the group of `query`: lines after `resume_from`, else those accepted in the
        last `since_ns`, else from now. A start behind the group catches up from Elasticsearch."""
        build_arrival_search(ArrivalScan(query, "", "", 1))  # a bad q fails here, as a 400
        key = query_fingerprint("tail", *query.fingerprint_parts())
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(key, query, self._cut(self.clock.now_ns()))
        start = TailPosition.parse(resume_from or position_at(self.clock.now_ns() - (since_ns or 0)))
        deadline = asyncio.get_running_loop().time() + self.max_seconds
        subscription = Subscription(self, group, start, self.capacity, deadline)
        group.subscriptions.add(subscription)
        self._hurry()  # a new tail starts at the short pace, not after an idle pause
        self.metrics.tail_connections.inc()
        if self._closed:
            subscription.end("shutdown")
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        group = subscription.group
        if subscription in group.subscriptions:
            self.metrics.tail_connections.dec()
        group.subscriptions.discard(subscription)
        if not group.subscriptions and self.groups.get(group.key) is group:
            del self.groups[group.key]

    def _cut(self, now: int) -> str:
        return position_at(now - int(self.settle_seconds * NS_PER_SECOND))

    def _on_local_write(self, write: Write) -> None:
        queries = [group.query for group in self.groups.values()]
        if self.local is not None and any(may_hold(query, stream) for stream in write.streams for query in queries):
            self._hurry()

    def _hurry(self) -> None:
        """Start a round soon (a LOCAL_ROUND_GAP after the last one) and keep the short pause."""
        self.pace.busy(asyncio.get_running_loop().time())
        self._stored.set()

    async def run(self) -> None:
        """A round every tail_poll_seconds, start to start, while there are groups; never raises.

        Start to start, so that a round's own duration does not add to the delivery latency; a
        round that overruns is followed at once, never by two at a time. A write of this process
        that returns starts a round early (at most one per LOCAL_ROUND_GAP), to read it ahead,
        when one of the tails' filters could match its streams. Rounds that find nothing for a
        while slow down (TailPace); while storage fails, to FAILING_POLL_SECONDS.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            pause = max(self.poll_seconds, FAILING_POLL_SECONDS) if self._failing else self.pace.pause(loop.time())
            await self._until_round(started + pause, started + LOCAL_ROUND_GAP)
            started = loop.time()
            self._stored.clear()
            read_before = self.lines_read
            try:
                await self.poll_once()
            except Exception as exc:
                self._note_failure(exc)
            if self.lines_read > read_before:
                self.pace.busy(started)

    async def _until_round(self, due: float, earliest: float) -> None:
        """Sleep until `due`, or until this process stores lines (but not before `earliest`)."""
        loop = asyncio.get_running_loop()
        if not self._failing and due > loop.time():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stored.wait(), due - loop.time())
                due = max(earliest, loop.time())
        await asyncio.sleep(max(due - loop.time(), 0))

    async def poll_once(self) -> None:
        """One round: a refresh, one msearch for every group (settled and ahead scans), then fan out.

        Order. The settled scan reads every node's lines in seq order below the cut. The ahead scan
        reads every node's lines above the cut up to the hand-off's bound B (this process's writes
        below B have all returned), and this process's own lines go out at once, in seq order, up
        to the first line of another worker; that line and all after it wait for the cut. Why
        that keeps arrival order: take a line A of another worker, answered before the write of a
        local line L began. A's seq is below L's (clocks aligned, as for the settled scan), and
        A's bulk had finished before this round's refresh (L's write returned before B was read,
        and the refresh follows), so A is visible: below the cut the settled scan sends it first;
        above, the ahead scan finds it before L and holds L back. A line of another worker that is
        still invisible was not answered when L's write began: the two were concurrent, and
        either order is an order of arrival. Nothing goes ahead when the settled scan did not
        read everything below the cut (a failed or full round). With one worker nothing is held.
        The event id says how far each stream got (TailPosition), so a resume is exact.
        """
        async with self._round:
            await self._poll_round()

    async def _poll_round(self) -> None:
        groups = list(self.groups.values())
        if not groups:
            return
        started = self.clock.now_ns()  # before the refresh: what finished indexing by now is searchable after it
        local = self._local_bound()  # likewise: writes returned by now are searchable after it
        await self.arrivals.refresh()
        cut = self._cut(started)
        scans = [group.scan(cut, self.batch) for group in groups]
        ahead = [group for group in groups if local > max(cut, group.low)] if self.local else []
        scans += [group.scan_ahead(cut, local, self.batch) for group in ahead]
        results = await self.arrivals.scan_many(scans)
        if self._failing:
            log.info("tail polling recovered")
            self._failing = False
        complete = set()
        for group, result in zip(groups, results, strict=False):
            self._take(group, result, group.accept)
            if isinstance(result, list) and len(result) < self.batch:
                complete.add(group.key)
        node = self.local.node if self.local else ""
        for group, result in zip(ahead, results[len(groups) :], strict=False):
            if group.key in complete:
                self._take(group, result, functools.partial(group.accept_ahead, node=node))

    def _local_bound(self) -> str:
        """The largest seq of this process's node that belongs to a returned write ("" without hand-off)."""
        if self.local is None or not self.local.node:
            return ""
        return f"{self.local.complete_upto():016x}{self.local.node}"

    def _take(self, group: _Group, result: list[Line] | LogriverError, accept: Callable[[list[Line]], None]) -> None:
        if isinstance(result, InvalidQueryError):
            group.end("error", result)
        elif isinstance(result, LogriverError):
            self._note_failure(result)
        else:
            self.lines_read += len(result)
            accept(result)

    def _note_failure(self, exc: Exception) -> None:
        # Logged once per outage, not every round.
        if not self._failing:
            known = isinstance(exc, LogriverError)
            detail = exc.message if isinstance(exc, LogriverError) else repr(exc)
            log.warning("tail polling failed; retrying every %ss: %s", self.poll_seconds, detail, exc_info=not known)
            self._failing = True

    def start(self) -> None:
        """Start the poller (app start-up)."""
        self._task = asyncio.create_task(self.run())

    def close(self) -> None:
        """End every stream (server shutdown); later subscriptions end at once."""
        self._closed = True
        for group in list(self.groups.values()):
            group.end("shutdown")

    async def stop(self) -> None:
        """End every stream and stop the poller (app clean-up)."""
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
