"""A stream is the set of lines with the same tenant and labels; its id is derived from both."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson


def stream_id(tenant: str, labels: dict[str, str]) -> str:
    """Stable 32-hex id: the same tenant and labels always name the same stream."""
    canonical = orjson.dumps([tenant, sorted(labels.items())])
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


@dataclass(frozen=True)
class StreamInfo:
    """A registered stream with what is known of its lines."""

    stream_id: str
    labels: dict[str, str]
    metadata: dict[str, Any] = field(default_factory=dict)
    first_timestamp_ns: int | None = None
    last_timestamp_ns: int | None = None
    lines: int = 0


def labels_key(labels: dict[str, str]) -> str:
    """The labels as one sortable text, keys in order: `job=7, stream=stderr`."""
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items()))


def listing_fields(labels: dict[str, str]) -> dict[str, Any]:
    """What the registry indexes beside the labels so that listings sort and filter on the server."""
    return {"labels_key": labels_key(labels), "label_values": sorted(set(labels.values()))}
