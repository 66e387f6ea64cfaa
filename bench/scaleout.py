"""Scale-out: logriver's ingest rate on one local node and on three local nodes with a replica.

Both clusters are `LocalCluster`s with the same heap per node, so the one difference is the
number of nodes (and, through the default `auto_expand_replicas: 0-1`, the replica that three
nodes get). On one machine the nodes share its cores: this shows the cost of replication and
of coordination, not the gain that separate machines would give.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import cast

from bench.cluster import Cluster
from bench.logs import ingest_batches
from bench.send import BenchError, api_sender, send_all, session
from bench.server import ServerProcess
from logriver import esruntime
from logriver.esruntime.cluster import LocalCluster


@dataclass
class ScaleOutResult:
    nodes: int
    replicas: int
    lines: int
    seconds: float
    retries: int

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


async def measure_scale_out(lines: int, batch: int, concurrency: int) -> list[ScaleOutResult]:
    """Ingest the same lines through `logriver serve` on 1 node, then on 3 nodes."""
    home = esruntime.default_home()
    results = []
    # The single node's ports sit next to the three-node cluster's 9261-9263 / 9361-9363.
    single = LocalCluster(home, size=1, http_base=9265, transport_base=9365, name="bench-single")
    for cluster in (single, LocalCluster(home, size=3)):
        started = not all(status is not None for status in cluster.status())
        urls = cluster.start()
        try:
            results.append(await _measure(urls, cluster.size, lines, batch, concurrency))
        finally:
            if started:
                cluster.stop()
    return results


async def _measure(urls: list[str], nodes: int, lines: int, batch: int, concurrency: int) -> ScaleOutResult:
    admin = Cluster.connect(urls[0])
    prefix = f"lrbench-{secrets.token_hex(4)}-scale"
    bodies = [(b.api_body(), len(b.lines)) for b in ingest_batches(lines, batch)]
    try:
        async with ServerProcess(",".join(urls), prefix) as server, session(concurrency) as http:
            start = time.perf_counter()
            _, retries = await send_all(api_sender(http, server.url, server.headers), bodies, concurrency)
            await admin.refresh(prefix)
            seconds = time.perf_counter() - start
        stored = await admin.count(prefix)
        if stored != lines:
            raise BenchError(f"{nodes} node(s): sent {lines} lines, stored {stored}")
        shards = await admin.client.cat.shards(index=f"{prefix}-lines-*", format="json")
        copies = Counter(s["prirep"] for s in cast(list[dict[str, str]], shards.body))
    finally:
        await admin.delete_prefix(prefix)
        await admin.close()
    return ScaleOutResult(nodes, copies["r"] // max(copies["p"], 1), lines, seconds, retries)


def scale_out_lines(results: list[ScaleOutResult], batch: int, concurrency: int) -> list[str]:
    """The printed figures, and the ratio of three nodes to one."""
    out = [f"scale-out: logriver serve ingest, {batch} lines/request, {concurrency} clients, same heap per node"]
    for r in results:
        out.append(
            f"  {r.nodes} node(s), {r.replicas} replica(s): {r.lines} lines in {r.seconds:.1f} s = "
            f"{r.rate:,.0f} lines/s ({r.retries} retries)"
        )
    if len(results) == 2:
        out.append(f"scale_out_ratio={results[1].rate / results[0].rate:.2f} (3 nodes with replica / 1 node)")
    return out
