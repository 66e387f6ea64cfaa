"""A fixed set of lines for the LogQL tests, and what each line holds, so expectations need no parser.

Each record keeps the fields its text was rendered from: the reference evaluation in the tests
reads them directly, independently of the parsers under test.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from logriver.core.timeutil import NS_PER_SECOND, format_rfc3339_ns

STREAMS: list[tuple[dict[str, str], str]] = [
    ({"app": "api", "env": "prod", "level": "error"}, "logfmt"),
    ({"app": "api", "env": "prod", "level": "info"}, "logfmt"),
    ({"app": "web", "env": "preprod", "level": "info"}, "json"),
    ({"app": "web", "env": "dev"}, "mixed"),  # logfmt, and a few lines that are neither
    ({"app": "db", "env": "prod", "level": "warn"}, "json"),
    ({"app": "edge"}, "exact"),  # logfmt on whole seconds: the edges of every window and step
]
LINES_PER_STREAM = 24
SPACING_SECONDS = 10
MESSAGES = ["request done", "upstream timeout", "health check", "error reading body", "GET /health ok"]
DURATIONS = {"250ms": 0.25, "1.5s": 1.5, "3s": 3.0, "800ms": 0.8}
SIZES = {"512B": 512, "2KB": 2000, "1KiB": 1024, "3MB": 3_000_000}


@dataclass(frozen=True)
class Record:
    labels: dict[str, str]
    ts: int
    text: str
    fmt: str  # logfmt, json or plain
    fields: dict[str, str]  # what a parser extracts (flattened names, text values)


def base_ns() -> int:
    """A whole minute about half an hour ago: inside retention, and steps land on whole seconds."""
    now = time.time_ns() // NS_PER_SECOND
    return (now - now % 60 - 1800) * NS_PER_SECOND


def build(base: int) -> list[Record]:
    rng = random.Random(18)
    records: list[Record] = []
    for s, (labels, fmt) in enumerate(STREAMS):
        for i in range(LINES_PER_STREAM):
            ts = base + (i * SPACING_SECONDS + s) * NS_PER_SECOND + rng.randrange(0, 900) * 1_000_000
            if fmt == "exact":
                ts = base + i * SPACING_SECONDS * NS_PER_SECOND
            records.append(_record(rng, labels, "logfmt" if fmt == "exact" else fmt, i, ts))
    return records


def _record(rng: random.Random, labels: dict[str, str], fmt: str, i: int, ts: int) -> Record:
    status = rng.choice([200, 200, 201, 404, 500, 503])
    fields = {
        "method": rng.choice(["GET", "POST"]),
        "status": str(status),
        "duration": rng.choice(list(DURATIONS)),
        "size": rng.choice(list(SIZES)),
        "msg": rng.choice(MESSAGES),
    }
    if fmt == "mixed" and i % 5 == 0:
        return Record(labels, ts, f'panic: oops "unterminated {i}', "plain", {})
    if fmt in ("logfmt", "mixed"):
        text = " ".join(f'{k}="{v}"' if " " in v else f"{k}={v}" for k, v in fields.items())
        return Record(labels, ts, text, "logfmt", fields)
    user = {"id": rng.randrange(1, 10), "name": rng.choice(["ann", "bob"])}
    body: dict[str, Any] = {**{k: v for k, v in fields.items() if k != "status"}, "status": status, "user": user}
    flat = {**fields, "user_id": str(user["id"]), "user_name": user["name"]}
    return Record(labels, ts, orjson.dumps(body).decode(), "json", flat)


def payloads(records: list[Record]) -> list[dict[str, Any]]:
    """The records as native write requests, one per stream."""
    by_stream: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for record in records:
        key = tuple(sorted(record.labels.items()))
        by_stream.setdefault(key, []).append({"@timestamp": format_rfc3339_ns(record.ts), "message": record.text})
    return [{"labels": dict(key), "lines": lines} for key, lines in by_stream.items()]
