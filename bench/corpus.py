"""Log lines for the disk measurement: what real services print, with real repetition.

Compression ratios depend on the text, so the lines here follow real shapes: templates repeated
with variable parts (ids, durations, addresses), lengths from 30 characters to multi-line stack
traces, JSON lines, key=value lines and syslog lines, several streams interleaved in time.
Uniform random text would measure nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from logriver.core.timeutil import NS_PER_MS

SERVICES = ("checkout", "catalog", "identity", "payments", "search", "notifier")
HOSTS = tuple(f"ip-10-0-{n // 4}-{10 + n}" for n in range(12))
PATHS = ("/api/v1/orders", "/api/v1/cart/items", "/api/v1/users/me", "/healthz", "/metrics", "/api/v1/search")
USERS = tuple(f"user{n:05d}" for n in range(400))
EXCEPTIONS = (
    ("java.net.SocketTimeoutException", "Read timed out"),
    ("java.lang.IllegalStateException", "Connection pool shut down"),
    ("org.postgresql.util.PSQLException", "ERROR: deadlock detected"),
)
FRAMES = (
    "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
    "org.springframework.jdbc.datasource.DataSourceUtils.fetchConnection(DataSourceUtils.java:159)",
    "org.hibernate.engine.jdbc.internal.ResultSetReturnImpl.extract(ResultSetReturnImpl.java:57)",
    "io.netty.channel.AbstractChannelHandlerContext.invokeChannelRead(AbstractChannelHandlerContext.java:444)",
    "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)",
    "java.base/java.lang.Thread.run(Thread.java:833)",
)


@dataclass(frozen=True)
class CorpusLine:
    timestamp_ns: int
    message: str
    labels: dict[str, str]


def _access(rng: random.Random) -> str:
    status = rng.choices((200, 201, 204, 302, 304, 400, 404, 500, 503), (60, 5, 5, 5, 8, 4, 8, 3, 2))[0]
    return (
        f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(256)} - {rng.choice(USERS)} "
        f'"{rng.choice(("GET", "GET", "GET", "POST", "PUT", "DELETE"))} {rng.choice(PATHS)}'
        f'{rng.choice(("", f"/{rng.randrange(10**6)}", f"?page={rng.randrange(50)}"))} HTTP/1.1" '
        f"{status} {rng.randrange(0, 40000)} {rng.expovariate(1 / 30):.3f}"
    )


def _app(rng: random.Random, service: str) -> str:
    level = rng.choices(("INFO", "DEBUG", "WARN", "ERROR"), (70, 15, 10, 5))[0]
    thread = f"http-nio-8080-exec-{rng.randrange(1, 40)}"
    text = rng.choice(
        (
            f"Processed order {rng.randrange(10**7)} for {rng.choice(USERS)} in {rng.randrange(2, 900)} ms",
            f"Cache miss for key product:{rng.randrange(10**5)}, loading from database",
            f"Retrying request to {rng.choice(SERVICES)}-svc (attempt {rng.randrange(1, 4)} of 3)",
            f"Session {rng.getrandbits(48):012x} expired after {rng.randrange(300, 3600)} s of inactivity",
            "Scheduled job cleanup-stale-carts finished",
            f"User {rng.choice(USERS)} logged in from 192.168.{rng.randrange(256)}.{rng.randrange(256)}",
        )
    )
    clock = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}"
    return f"2026-12-03 {clock} {level:<5} [{thread}] c.e.{service}.Service - {text}"


def _json(rng: random.Random, service: str) -> str:
    record = {
        "level": rng.choice(("info", "info", "info", "warn", "error")),
        "ts": round(1796300000 + rng.random() * 3600, 6),
        "caller": f"{service}/handler.go:{rng.randrange(20, 400)}",
        "msg": rng.choice(("request served", "upstream slow", "token refreshed", "queue drained")),
        "trace_id": f"{rng.getrandbits(128):032x}",
        "duration_ms": round(rng.expovariate(1 / 20), 2),
    }
    if rng.random() < 0.4:
        record["user"] = rng.choice(USERS)
    return orjson.dumps(record).decode()


def _kv(rng: random.Random) -> str:
    return (
        f'time="2026-12-03T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z" '
        f"level={rng.choice(('info', 'warning', 'debug'))} "
        f'msg="{rng.choice(("sync done", "lease renewed", "probe ok"))}" '
        f"component={rng.choice(('scheduler', 'kubelet', 'controller'))} pod={rng.choice(SERVICES)}-"
        f"{rng.getrandbits(20):05x} took={rng.random():.4f}s"
    )


def _syslog(rng: random.Random, host: str) -> str:
    return rng.choice(
        (
            f"{host} sshd[{rng.randrange(1000, 65000)}]: Accepted publickey for deploy from "
            f"10.0.{rng.randrange(256)}.{rng.randrange(256)} port {rng.randrange(30000, 65000)} ssh2",
            f"{host} systemd[1]: Started Session {rng.randrange(10**4)} of user deploy.",
            f"{host} kernel: [{rng.random() * 10**6:.6f}] TCP: out of memory -- consider tuning tcp_mem",
            f"{host} CRON[{rng.randrange(1000, 65000)}]: (root) CMD (/usr/local/bin/backup --incremental)",
        )
    )


def _trace(rng: random.Random, service: str) -> str:
    kind, reason = rng.choice(EXCEPTIONS)
    depth = rng.randrange(4, len(FRAMES) + 1)
    frames = "\n".join(f"\tat {frame}" for frame in FRAMES[:depth])
    return f"ERROR [{service}] Unhandled exception in request {rng.getrandbits(32):08x}\n{kind}: {reason}\n{frames}"


def message(rng: random.Random, service: str, host: str) -> str:
    """One line in the mix: mostly access and application lines, some JSON, key=value, syslog, traces."""
    pick = rng.random()
    if pick < 0.35:
        return _access(rng)
    if pick < 0.65:
        return _app(rng, service)
    if pick < 0.8:
        return _json(rng, service)
    if pick < 0.9:
        return _kv(rng)
    if pick < 0.98:
        return _syslog(rng, host)
    return _trace(rng, service)


def corpus(total: int, end_ns: int, seed: int = 7) -> Iterator[CorpusLine]:
    """`total` lines over the hour before `end_ns`, millisecond timestamps, streams interleaved."""
    rng = random.Random(seed)
    span_ms = 3600 * 1000
    start_ms = end_ns // NS_PER_MS - span_ms
    for n in range(total):
        service, host = rng.choice(SERVICES), rng.choice(HOSTS)
        labels = {"env": "prod", "host": host, "service": service}
        yield CorpusLine((start_ms + n * span_ms // total) * NS_PER_MS, message(rng, service, host), labels)
