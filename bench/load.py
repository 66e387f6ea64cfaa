"""`python -m bench.load`: many writers at once against one server; its memory and the status mix.

64 clients each post 2,000-line batches at the same time; the server's peak RSS (VmHWM), its RSS
after the load, and how many requests were accepted or told to back off are printed as
`peak_rss_mib=<x>`, `rss_after_mib=<y>` and `statuses={...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench.cluster import Cluster, elasticsearch_url
from bench.logs import ingest_batches
from bench.server import ServerProcess


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _client(
    http: aiohttp.ClientSession, server: ServerProcess, bodies: list[bytes], statuses: Counter[int]
) -> None:
    for body in bodies:
        headers = {**server.headers, "Content-Type": "application/json"}
        async with http.post(f"{server.url}/api/v1/lines", data=body, headers=headers) as response:
            await response.read()
            statuses[response.status] += 1


async def run_load(es_url: str, clients: int, batch: int, per_client: int) -> dict[str, object]:
    """Start a server, hit it with `clients` concurrent writers, and measure it."""
    prefix = f"bench-load-{secrets.token_hex(4)}"
    batches = ingest_batches(clients * per_client * batch, batch, hosts=clients)
    bodies = [b.api_body() for b in batches]
    cluster = Cluster.connect(es_url)
    statuses: Counter[int] = Counter()
    try:
        async with ServerProcess(es_url, prefix) as server:
            idle = _rss_mib(server.pid)
            started = time.monotonic()
            connector = aiohttp.TCPConnector(limit=clients)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as http:
                shares = [bodies[i::clients] for i in range(clients)]
                await asyncio.gather(*(_client(http, server, share, statuses) for share in shares))
            elapsed = time.monotonic() - started
            await asyncio.sleep(2)
            return {
                "idle_rss_mib": round(idle, 1),
                "peak_rss_mib": round(server.peak_rss_mib(), 1),
                "rss_after_mib": round(_rss_mib(server.pid), 1),
                "seconds": round(elapsed, 1),
                "statuses": dict(sorted(statuses.items())),
            }
    finally:
        await cluster.delete_prefix(prefix)
        await cluster.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent writers")
    parser.add_argument("--batch", type=int, default=2000, help="lines per request")
    parser.add_argument("--requests", type=int, default=3, help="requests per writer")
    args = parser.parse_args(argv)
    with elasticsearch_url() as (url, _):
        figures = asyncio.run(run_load(url, args.clients, args.batch, args.requests))
    print(" ".join(f"{key}={value}" for key, value in figures.items()).replace(": ", ":").replace(", ", ","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
