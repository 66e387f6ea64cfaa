"""Options, the order of the sections, and clean-up."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections.abc import Sequence

from bench.cluster import Cluster, elasticsearch_url
from bench.depth import DEPTH_PREFIX, MARGIN, measure_depth
from bench.ingest import measure_ingest
from bench.memory import measure_memory, memory_lines
from bench.otlp import measure_otlp
from bench.report import (
    depth_lines,
    depth_ratio,
    final_line,
    ingest_lines,
    otlp_lines,
    page_ratio,
    scale_lines,
    storage_lines,
    tail_lines,
    tail_p99_ms,
)
from bench.scale import ScaleResult, measure_scale
from bench.scaleout import measure_scale_out, scale_out_lines
from bench.send import BenchError
from bench.storage import measure_storage
from bench.streams import measure_streams, streams_lines
from bench.tail import TailResult, measure_tail


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="logriver ingest rate and deep-page latency, as ratios to raw Elasticsearch"
    )
    parser.add_argument("--lines", type=int, default=200_000, help="lines written each way (0 skips ingest)")
    parser.add_argument(
        "--otlp-lines", type=int, default=100_000, help="lines through OTLP protobuf and raw _bulk (0 skips)"
    )
    parser.add_argument("--depth-lines", type=int, default=1_000_000, help="depth of the deep page (0 skips depth)")
    parser.add_argument("--batch", type=int, default=2000, help="lines per request, both ways")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients, both ways")
    parser.add_argument("--rounds", type=int, default=4, help="ingest rounds; the order of the ways alternates")
    parser.add_argument("--repeat", type=int, default=50, help="timed requests per page case")
    parser.add_argument("--writers", type=int, default=64, help="concurrent writers of the memory load (0 skips it)")
    parser.add_argument("--writer-batches", type=int, default=4, help="batches each writer posts in the memory load")
    parser.add_argument(
        "--workers", default="1,2", help="worker counts for the workers and tail sections, comma-separated"
    )
    parser.add_argument("--scale-lines", type=int, default=100_000, help="lines per worker count (0 skips)")
    parser.add_argument("--tail-seconds", type=float, default=60.0, help="seconds of tail per worker count (0 skips)")
    parser.add_argument("--tail-interval", type=float, default=0.2, help="seconds between the tailed lines")
    parser.add_argument("--logql-lines", type=int, default=100_000, help="lines of the LogQL stream (0 skips it)")
    parser.add_argument(
        "--streams", type=int, default=100_000, help="streams of the streams-listing section (0 skips it)"
    )
    parser.add_argument(
        "--store-lines", type=int, default=1_000_000, help="lines of the disk measurement, each store (0 skips)"
    )
    parser.add_argument("--browser-lines", type=int, default=0, help="lines of the viewer's browser bench (0 skips it)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help=f"keep the depth stream ({DEPTH_PREFIX}-*) for the next run, and the storage section's indices",
    )
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="instead: logriver ingest on 1 local node vs 3 local nodes with a replica (ports 9261-9265)",
    )
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.writers < 0 or args.writer_batches < 1:
        parser.error("--writers must be >= 0 and --writer-batches >= 1")
    if (
        args.browser_lines < 0
        or args.lines < 0
        or args.store_lines < 0
        or args.batch < 1
        or args.concurrency < 1
        or args.rounds < 1
        or args.repeat < 1
        or args.streams < 0
    ):
        parser.error("--lines must be >= 0; --batch, --concurrency, --rounds and --repeat >= 1")
    if args.depth_lines and args.depth_lines < 2 * MARGIN:
        parser.error(f"--depth-lines must be 0 (skip) or at least {2 * MARGIN}")
    if args.otlp_lines < 0 or (args.otlp_lines and args.otlp_lines < args.batch * args.rounds):
        parser.error("--otlp-lines must be 0 (skip) or fill at least one batch per round")
    if args.lines and args.lines < args.batch * args.rounds:
        parser.error("--lines must fill at least one batch per round")
    try:
        args.worker_counts = [int(n) for n in args.workers.split(",")]
    except ValueError:
        parser.error("--workers must be comma-separated integers, e.g. 1,2")
    if not args.worker_counts or min(args.worker_counts) < 1:
        parser.error("--workers counts must be at least 1")
    if args.logql_lines < 0:
        parser.error("--logql-lines must be >= 0")
    if args.scale_lines < 0 or args.tail_seconds < 0 or args.tail_interval <= 0:
        parser.error("--scale-lines and --tail-seconds must be >= 0, --tail-interval > 0")


async def _run(url: str, source: str, args: argparse.Namespace) -> str:
    cluster = Cluster.connect(url)
    ingest_ratio = otlp_ratio = depth = peak_rss = tail_p99 = store = page = float("nan")
    try:
        version = await cluster.version()
        print(f"logriver bench: Elasticsearch {version} at {url} ({source}), {os.cpu_count()} CPUs", flush=True)
        if args.lines:
            run_id = secrets.token_hex(4)
            result = await measure_ingest(cluster, args.lines, args.batch, args.concurrency, args.rounds, run_id)
            print("\n".join(ingest_lines(result, args.batch, args.concurrency, args.rounds)), flush=True)
            ingest_ratio = result.ratio
        if args.otlp_lines:
            result = await measure_otlp(
                cluster, args.otlp_lines, args.batch, args.concurrency, args.rounds, secrets.token_hex(4)
            )
            print("\n".join(otlp_lines(result, args.batch, args.concurrency, args.rounds)), flush=True)
            otlp_ratio = result.ratio
        if args.writers:
            load = await measure_memory(
                cluster, args.writers, args.writer_batches, args.batch, f"lrbench-{secrets.token_hex(4)}-mem"
            )
            print("\n".join(memory_lines(load)), flush=True)
            peak_rss = load.peak_rss_mib
        if args.depth_lines:
            found = await measure_depth(cluster, args.depth_lines, args.batch, args.concurrency, args.repeat)
            print("\n".join(depth_lines(found, args.repeat)), flush=True)
            depth, page = depth_ratio(found), page_ratio(found)
        if args.scale_lines:
            scaled: list[ScaleResult] = []
            for count in args.worker_counts:
                for tailed in (False, True):
                    scaled.append(
                        await measure_scale(
                            cluster, count, args.scale_lines, args.batch, args.concurrency, tailed=tailed
                        )
                    )
            print("\n".join(scale_lines(scaled, args.batch, args.concurrency)), flush=True)
        if args.tail_seconds:
            tails: list[TailResult] = []
            for count in args.worker_counts:
                tails.append(await measure_tail(cluster, count, args.tail_seconds, args.tail_interval))
            print("\n".join(tail_lines(tails, args.tail_interval)), flush=True)
            tail_p99 = tail_p99_ms(tails)
        if args.store_lines:
            stored = await measure_storage(cluster, args.store_lines, secrets.token_hex(4), keep=args.keep)
            print("\n".join(storage_lines(stored)), flush=True)
            store = stored.ratio
        await _other_sections(cluster, url, args)
    finally:
        if args.depth_lines and not args.keep:
            await cluster.delete_prefix(DEPTH_PREFIX)
        await cluster.close()
    return final_line(ingest_ratio, depth, peak_rss, tail_p99, page=page, store=store, otlp=otlp_ratio)


async def _other_sections(cluster: Cluster, url: str, args: argparse.Namespace) -> None:
    """The sections whose figures are printed but not on the last line."""
    if args.logql_lines:
        from bench.logql import logql_lines, measure_logql

        logql = await measure_logql(cluster, args.logql_lines, args.batch, args.concurrency, args.repeat)
        print("\n".join(logql_lines(logql)), flush=True)
    if args.streams:
        listing = await measure_streams(cluster, args.streams, args.repeat)
        print("\n".join(streams_lines(listing)), flush=True)
    if args.browser_lines:
        from bench.browser import browser_lines, measure_browser

        figures = await measure_browser(cluster, url, args.browser_lines)
        print("\n".join(browser_lines(figures)), flush=True)


def _scale_out(args: argparse.Namespace) -> int:
    try:
        results = asyncio.run(measure_scale_out(args.lines, args.batch, args.concurrency))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print("\n".join(scale_out_lines(results, args.batch, args.concurrency)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; the last printed line is `ingest_ratio=<x> depth_ratio=<y> tail_p99_ms=<z>`."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    start = time.monotonic()
    if args.scale_out:
        return _scale_out(args)
    try:
        with elasticsearch_url() as (url, source):
            last = asyncio.run(_run(url, source, args))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(f"bench took {time.monotonic() - start:.0f} s")
    print(last)
    return 0
