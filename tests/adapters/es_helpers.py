"""Shortcuts for tests of the Elasticsearch-compatible surface."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

PREFIX = "/es"


def basic(token: str = "rw-acme", user: str = "logriver") -> dict[str, str]:
    """Basic auth whose password is the token, as shippers configure it."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def ndjson(*rows: Any) -> bytes:
    """One JSON line per row; a bytes row is sent as it is (a document that is not JSON)."""
    return b"".join((row if isinstance(row, bytes) else orjson.dumps(row)) + b"\n" for row in rows)


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any


async def call(
    api, method: str, path: str, body: bytes | None = None, headers: dict | None = None, prefix: str = PREFIX, **params
) -> Answer:
    """One request to the surface (path relative to its prefix); a JSON body is parsed."""
    merged = {"Content-Type": "application/x-ndjson", **basic(), **(headers or {})}
    sent = {name: value for name, value in merged.items() if value is not None}  # None drops a default
    response = await api.http.request(method, prefix + path, data=body, headers=sent, params=params)
    raw = await response.read()
    try:
        parsed = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        parsed = raw.decode()
    return Answer(response.status, response.headers, parsed)


async def bulk(
    api, *rows: Any, path: str = "/_bulk", headers: dict | None = None, prefix: str = PREFIX, **params
) -> Answer:
    params.setdefault("refresh", "wait_for")
    return await call(api, "POST", path, ndjson(*rows), headers, prefix, **params)


async def read_back(api, **labels: str) -> list[dict]:
    """Lines of the labels through the native API, oldest first."""
    params = {f"labels__{k}": v for k, v in labels.items()}
    page = await api.get_lines(limit=1000, **params)
    return page["lines"]


def statuses(answer: Answer) -> list[int]:
    return [next(iter(item.values()))["status"] for item in answer.body["items"]]
