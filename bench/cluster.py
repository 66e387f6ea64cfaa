"""The Elasticsearch the bench measures against: which one, and the index housekeeping it needs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch

from logriver import esruntime
from logriver.core.indices import IndexLayout, layout_of
from logriver.core.settings import Settings


@contextlib.contextmanager
def elasticsearch_url() -> Iterator[tuple[str, str]]:
    """LOGRIVER_ES_URL when set; else the local node, stopped afterwards only if this run started it."""
    settings = Settings.from_env(os.environ)
    if settings.es_url:
        yield settings.es_url.rstrip("/"), "LOGRIVER_ES_URL"
        return
    local = esruntime.from_settings(settings)
    already_running = local.status() is not None
    url = local.start()
    try:
        yield url, "local node (already running)" if already_running else "local node (started by this run)"
    finally:
        if not already_running:
            local.stop()


@dataclass
class Cluster:
    """Admin calls on the measured Elasticsearch; the measured requests themselves go elsewhere."""

    url: str
    client: AsyncElasticsearch

    @classmethod
    def connect(cls, url: str) -> Cluster:
        return cls(url, AsyncElasticsearch(url, request_timeout=300))

    async def version(self) -> str:
        # The minimal server answers GET / with 405; the nodes API has the version too.
        nodes = (await self.client.nodes.info(node_id="_local", filter_path="nodes.*.version"))["nodes"]
        return ",".join(sorted({str(n["version"]) for n in nodes.values()}))

    def layout(self, prefix: str) -> IndexLayout:
        """The layout a logriver with this prefix and the environment's settings would use."""
        settings = Settings.from_env(os.environ, index_prefix=prefix)
        return layout_of(settings)

    async def install_templates(self, prefix: str) -> None:
        """The very templates logriver installs, under another prefix (for the raw `_bulk` side)."""
        for name, body in self.layout(prefix).templates().items():
            await self.client.indices.put_index_template(name=name, **body)

    async def refresh(self, prefix: str) -> None:
        await self.client.indices.refresh(index=f"{prefix}-lines-*", allow_no_indices=True)

    async def count(self, prefix: str, query: dict[str, Any] | None = None) -> int:
        response = await self.client.count(index=f"{prefix}-lines-*", allow_no_indices=True, query=query)
        return int(response["count"])

    async def sources(self, prefix: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Stored documents by id, from a prefix's line indices."""
        response = await self.client.search(
            index=f"{prefix}-lines-*", query={"ids": {"values": ids}}, size=len(ids), track_total_hits=False
        )
        return {hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]}

    async def delete_prefix(self, prefix: str) -> list[str]:
        """Delete every index and template of a prefix, by exact name; returns what was deleted."""
        found = await self.client.options(ignore_status=404).indices.get(
            index=f"{prefix}-*", expand_wildcards="all", allow_no_indices=True
        )
        names = sorted(found.body) if isinstance(found.body, dict) else []
        if names:
            await self.client.indices.delete(index=",".join(names))
        for template in (f"{prefix}-lines", f"{prefix}-streams"):
            await self.client.options(ignore_status=404).indices.delete_index_template(name=template)
        return names

    async def close(self) -> None:
        await self.client.close()
