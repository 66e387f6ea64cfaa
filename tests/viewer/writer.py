"""Writing test lines fast through the native bulk API of a running server."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from logriver.core.timeutil import format_rfc3339_ns

BATCH = 10_000


def numbered(count: int, start: int = 0, base_ns: int | None = None, step_ns: int = 1_000_000) -> list[dict[str, Any]]:
    """Lines `line 000000`, ... one step apart, ending before now."""
    base = base_ns if base_ns is not None else time.time_ns() - (start + count + 10) * step_ns
    return [
        {
            "@timestamp": format_rfc3339_ns(base + (start + i) * step_ns),
            "message": f"line {start + i:06d}",
            "order_num": i,
        }
        for i in range(count)
    ]


def now_lines(*messages: str, **extra: Any) -> list[dict[str, Any]]:
    """Lines stamped now, in order (a nanosecond apart)."""
    base = time.time_ns()
    return [{"@timestamp": format_rfc3339_ns(base + i), "message": m, **extra} for i, m in enumerate(messages)]


async def write_lines(url: str, labels: dict[str, str], lines: list[dict[str, Any]], token: str = "admin-acme") -> None:
    """POST in big batches; the last one waits until everything is searchable."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        for at in range(0, len(lines), BATCH):
            last = at + BATCH >= len(lines)
            params = {"refresh": "wait_for"} if last else {}
            body = {"labels": labels, "lines": lines[at : at + BATCH]}
            async with session.post(f"{url}/api/v1/lines", json=body, params=params) as response:
                result = await response.json()
                assert response.status == 200 and not result["rejected"], result


async def stream_id(url: str, labels: dict[str, str], token: str = "read-acme") -> str:
    params = {f"labels.{k}": v for k, v in labels.items()}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session,
        session.get(f"{url}/api/v1/streams", params=params) as response,
    ):
        streams = (await response.json())["streams"]
    assert len(streams) == 1, streams
    return str(streams[0]["id"])
