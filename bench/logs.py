"""Realistic log lines, and the two shapes they are sent in: API request bodies and raw `_bulk` bodies."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from logriver.core.indices import IndexLayout
from logriver.core.streams import stream_id
from logriver.core.timeutil import NS_PER_MS, format_rfc3339_ns, now_ns, parse_rfc3339_ns
from logriver.ingest.lineids import template_id_function
from logriver.ingest.schemas import LineIn
from logriver.ingest.writer import SequenceAllocator, request_digest

TENANT = "bench"
APPS = ("api", "web", "worker", "auth", "billing")
PATHS = ("/api/v2/orders", "/api/v2/customers", "/login", "/static/app.js", "/api/v2/search", "/healthz")
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "curl/8.5.0", "Go-http-client/1.1", "okhttp/4.12.0")


@dataclass(frozen=True)
class Batch:
    """One request's worth of lines: shared labels plus per-line objects as the API takes them."""

    shared_labels: dict[str, str]
    lines: list[dict[str, Any]]

    def api_body(self) -> bytes:
        return orjson.dumps({"labels": self.shared_labels, "lines": self.lines})


def _message(rng: random.Random, app: str) -> tuple[str, dict[str, Any] | None]:
    """One line in one of the shapes real services print; some carry structured fields."""
    kind = rng.random()
    trace = f"{rng.getrandbits(64):016x}"
    if kind < 0.45:
        status = rng.choice((200, 200, 200, 201, 204, 301, 404, 500))
        millis = round(rng.expovariate(1 / 40), 1)
        message = (
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - "
            f'"{rng.choice(("GET", "GET", "POST", "PUT"))} {rng.choice(PATHS)}/{rng.randrange(100000)} HTTP/1.1" '
            f'{status} {rng.randrange(200, 50000)} {millis}ms "{rng.choice(AGENTS)}"'
        )
        return message, {"status": status, "duration_ms": millis, "trace_id": trace}
    if kind < 0.8:
        level = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARN"))
        return (
            f"{level} [{app}-{rng.randrange(8)}] {app}.service - processed order {rng.randrange(10**6)} "
            f"for customer {rng.randrange(10**5)} in {rng.randrange(1, 900)}ms"
        ), None
    if kind < 0.97:
        return (
            f'level=warn msg="slow query" table={rng.choice(("orders", "users", "events"))} '
            f"rows={rng.randrange(10**4)} duration={rng.random() * 3:.3f}s trace_id={trace}"
        ), {"trace_id": trace}
    return (
        f"ERROR [{app}] request failed: upstream timeout after 30000ms\n"
        f'Traceback (most recent call last):\n  File "{app}/handlers.py", line {rng.randrange(40, 400)}, in handle\n'
        f"    response = await upstream.call(request)\nTimeoutError: upstream {app}-backend did not answer"
    ), {"error": {"kind": "timeout", "upstream": f"{app}-backend"}, "trace_id": trace}


def _line(rng: random.Random, timestamp_ns: int, labels: dict[str, str] | None, app: str) -> dict[str, Any]:
    message, fields = _message(rng, app)
    line: dict[str, Any] = {"@timestamp": format_rfc3339_ns(timestamp_ns), "message": message}
    if labels:
        line["labels"] = labels
    if fields:
        line["fields"] = fields
    return line


def ingest_batches(total: int, batch: int, hosts: int = 8, seed: int = 1) -> list[Batch]:
    """`total` lines from `hosts` shippers over the last hour; each batch is one host's lines of several apps."""
    rng = random.Random(seed)
    end = now_ns() - 60 * 10**9
    span = 3600 * 10**9
    per_host = [total // hosts + (1 if h < total % hosts else 0) for h in range(hosts)]
    batches: list[Batch] = []
    for host, count in enumerate(per_host):
        shared = {"env": "prod", "host": f"node-{host:02d}"}
        step = span // max(count, 1)
        # Millisecond timestamps, like most shippers send: lines close in time collide.
        stamps = [((end - span + i * step + rng.randrange(step)) // NS_PER_MS) * NS_PER_MS for i in range(count)]
        apps = [rng.choice(APPS) for _ in range(count)]
        lines = [_line(rng, ts, {"app": app}, app) for ts, app in zip(stamps, apps, strict=False)]
        batches.extend(Batch(shared, lines[i : i + batch]) for i in range(0, count, batch))
    rng.shuffle(batches)  # shippers interleave
    return batches


def stream_batches(labels: dict[str, str], total: int, batch: int, seed: int = 2) -> Iterator[Batch]:
    """One stream of `total` lines over the last 20 minutes, millisecond timestamps, generated lazily."""
    rng = random.Random(seed)
    span_ms = 20 * 60 * 1000
    start_ms = now_ns() // NS_PER_MS - span_ms - 60_000
    app = labels.get("app", "deep")
    for first in range(0, total, batch):
        count = min(batch, total - first)
        lines = [_line(rng, (start_ms + (first + i) * span_ms // total) * NS_PER_MS, None, app) for i in range(count)]
        yield Batch(labels, lines)


def raw_bulk_body(
    batch: Batch, layout: IndexLayout, sequence: SequenceAllocator, ingested: str
) -> tuple[bytes, list[str]]:
    """The `_bulk` body logriver would send for `batch` (same ids, same documents, lines only), and the ids."""
    digest = request_digest(TENANT, batch.api_body())
    line_id = template_id_function(layout.templates()[f"{layout.prefix}-lines"])  # the ids the writer makes there
    base, node = sequence.reserve(len(batch.lines))
    parts: list[bytes] = []
    ids: list[str] = []
    for position, raw in enumerate(batch.lines):
        labels = {**batch.shared_labels, **raw.get("labels", {})}
        sid = stream_id(TENANT, labels)
        line = LineIn(parse_rfc3339_ns(raw["@timestamp"]), raw["message"], labels, fields=raw.get("fields"))
        ids.append(line_id(TENANT, sid, line, position, digest))
        parts.append(orjson.dumps({"create": {"_index": layout.lines_index(line.timestamp_ns), "_id": ids[-1]}}))
        seq = SequenceAllocator.format(base, position, node)
        parts.append(orjson.dumps(_document(raw, labels, sid, seq, ingested)))
    return b"\n".join(parts) + b"\n", ids


def _document(raw: dict[str, Any], labels: dict[str, str], sid: str, seq: str, ingested: str) -> dict[str, Any]:
    """A line as logriver stores it; the bench checks a sample against what the API stored."""
    document: dict[str, Any] = {
        "@timestamp": raw["@timestamp"],
        "order_num": 0,
        "seq": seq,
        "message": raw["message"],
        "labels": labels,
        "stream_id": sid,
        "tenant": TENANT,
        "ingested_at": ingested,
    }
    if raw.get("fields"):
        document["fields"] = raw["fields"]
    return document


def es_bulk_body(batch: Batch) -> bytes:
    """The batch as a shipper sends it to an Elasticsearch `_bulk`: one index per app and host, `host.name`."""
    parts: list[bytes] = []
    for raw in batch.lines:
        labels = {**batch.shared_labels, **raw.get("labels", {})}
        document = {"@timestamp": raw["@timestamp"], "message": raw["message"], "host": {"name": labels["host"]}}
        document.update(raw.get("fields") or {})
        parts.append(b'{"create":{"_index":"%s-%s"}}' % (labels["app"].encode(), labels["host"].encode()))
        parts.append(orjson.dumps(document))
    return b"\n".join(parts) + b"\n"
