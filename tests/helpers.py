"""Small helpers that keep the HTTP tests readable."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient

from logriver.core.timeutil import format_rfc3339_ns


def auth(token: str = "admin-acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ts(offset_seconds: float = 0.0, base_ns: int | None = None) -> str:
    """An RFC 3339 timestamp relative to now (or to base_ns), inside the accepted window."""
    base = time.time_ns() if base_ns is None else base_ns
    return format_rfc3339_ns(base + int(offset_seconds * 1_000_000_000))


class ApiClient:
    """The aiohttp test client plus shortcuts for the native API."""

    def __init__(self, client: TestClient):
        self.http = client

    async def post_lines(self, lines: Any, token: str = "admin-acme", refresh: bool = True, **kwargs: Any) -> dict:
        params = {"refresh": "wait_for"} if refresh else {}
        response = await self.http.post("/api/v1/lines", json=lines, headers=auth(token), params=params, **kwargs)
        assert response.status == 200, await response.text()
        return await response.json()

    async def get_lines(self, token: str = "admin-acme", expect: int = 200, **params: Any) -> dict:
        response = await self.http.get("/api/v1/lines", params=_params(params), headers=auth(token))
        assert response.status == expect, await response.text()
        return await response.json()

    async def get(self, path: str, token: str = "admin-acme", expect: int = 200, **params: Any) -> Any:
        response = await self.http.get(path, params=_params(params), headers=auth(token))
        assert response.status == expect, await response.text()
        return await response.json()


def _params(params: dict[str, Any]) -> dict[str, str]:
    """`labels__app="x"` becomes `labels.app=x`; `from_` becomes `from`."""
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        name = key.replace("labels__", "labels.").rstrip("_")
        out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out
