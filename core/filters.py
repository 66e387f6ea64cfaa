"""The filter every read and delete starts from: the caller's tenant and exact label matches."""

from __future__ import annotations

from typing import Any


def stream_filter(tenant: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Term filters for the tenant and each label; a stream matches when it has all of them."""
    clauses: list[dict[str, Any]] = [{"term": {"tenant": tenant}}]
    clauses.extend({"term": {f"labels.{key}": value}} for key, value in sorted(labels.items()))
    return clauses
