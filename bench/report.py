"""What a run prints: per-section figures, then the one machine-readable line."""

from __future__ import annotations

import math
import statistics

from bench.depth import DepthResult
from bench.ingest import IngestResult
from bench.scale import ScaleResult
from bench.storage import StorageResult
from bench.tail import TailResult

INGEST_TARGET = 0.9  # api rate / raw rate, at least
DEPTH_TARGET = 1.5  # deep page median / first page median, at most
CPU_TARGET_US = 6  # logriver's CPU per line on the native path, at most
STORE_TARGET = 0.6  # logriver bytes per line / default-mapping bytes per line, at most
PAGE_TARGET = 1.2  # API page / raw search_after of the same lines, at most
TAIL_TARGET_MS = 300  # issue 17, goal 4: accepted -> delivered, one worker, quiet machine


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def ingest_lines(result: IngestResult, batch: int, concurrency: int, rounds: int) -> list[str]:
    ways = ["api", "raw", "esbulk"]
    order = ", ".join(" ".join(ways[n % 3 :] + ways[: n % 3]) for n in range(rounds))
    out = [
        f"ingest: {result.lines} lines in {result.streams} streams, batch {batch}, concurrency {concurrency}, "
        f"{rounds} rounds ({order}), each way ends with a refresh",
    ]
    for way in (result.api, result.raw, *([result.esbulk] if result.esbulk else [])):
        phases = ", ".join(f"{s:.2f}" for s in way.phases)
        out.append(
            f"  {way.name:<6} {result.lines / way.seconds:9.0f} lines/s  {way.seconds:7.2f} s (rounds {phases})  "
            f"stored {way.stored}, retries {way.retries}"
        )
    per_line = result.server_cpu_seconds / result.lines * 1e6
    out.append(
        f"  logriver process: {result.server_cpu_seconds:.2f} CPU s ({per_line:.0f} µs/line), "
        f"peak RSS {result.server_peak_rss_mib:.0f} MiB"
    )
    if result.esbulk is not None:
        esbulk = result.esbulk_cpu_seconds / result.lines * 1e6
        out.append(f"  logriver process behind _bulk: {result.esbulk_cpu_seconds:.2f} CPU s ({esbulk:.0f} µs/line)")
    met = _verdict(result.ratio >= INGEST_TARGET)
    out.append(f"  ingest ratio api/raw {result.ratio:.3f}  (target >= {INGEST_TARGET}: {met})")
    out.append(f"  es_bulk_ratio={result.es_bulk_ratio:.3f} (logriver _bulk / raw _bulk)")
    out.append(f"  cpu_us_per_line={result.cpu_us_per_line:.1f} (target <= {CPU_TARGET_US})")
    return out


def depth_ratio(result: DepthResult) -> float:
    return statistics.median(result.latencies["deep"]) / statistics.median(result.latencies["head"])


def depth_lines(result: DepthResult, repeat: int) -> list[str]:
    if result.loaded_seconds is None:
        loaded = "kept from an earlier --keep run"
    else:
        rate = result.stream_lines / result.loaded_seconds
        loaded = f"loaded through the API in {result.loaded_seconds:.1f} s, {rate:.0f} lines/s"
    out = [
        f"depth: one stream of {result.stream_lines} lines ({loaded})",
        f"  walk to depth {result.depth} by newer tokens, limit 10000: {result.walk_pages + 1} pages in "
        f"{result.walk_seconds:.1f} s ({result.depth / result.walk_seconds:.0f} lines/s)",
        f"  GET /api/v1/lines limit 100, {repeat} timed requests per case (after warm-up, shuffled):",
    ]
    names = {
        "head": "from=head",
        "deep": f"newer token {result.depth} lines in",
        "tail": "from=tail",
        "deep_older": f"older token {result.depth} lines back",
        "raw_deep": "raw search_after of the deep page",
        "search": "GET /api/v1/search one word",
        "raw_search": "raw search of the same word",
    }
    for case, label in names.items():
        values = result.latencies[case]
        out.append(
            f"    {case:<10} {label:<34} median {statistics.median(values) * 1000:7.2f} ms"
            f"  p95 {percentile(values, 0.95) * 1000:7.2f} ms"
        )
    older = statistics.median(result.latencies["deep_older"]) / statistics.median(result.latencies["tail"])
    ratio = depth_ratio(result)
    out.append(f"  depth ratio deep/head {ratio:.3f}  (target <= {DEPTH_TARGET}: {_verdict(ratio <= DEPTH_TARGET)})")
    out.append(f"  older direction: deep_older/tail {older:.3f}")
    page, search = page_ratio(result), search_ratio(result)
    out.append(f"  page ratio deep/raw_deep {page:.3f}  (target <= {PAGE_TARGET}: {_verdict(page <= PAGE_TARGET)})")
    out.append(f"  search ratio search/raw_search {search:.3f}")
    return out


def page_ratio(result: DepthResult) -> float:
    return statistics.median(result.latencies["deep"]) / statistics.median(result.latencies["raw_deep"])


def search_ratio(result: DepthResult) -> float:
    return statistics.median(result.latencies["search"]) / statistics.median(result.latencies["raw_search"])


def scale_lines(results: list[ScaleResult], batch: int, concurrency: int) -> list[str]:
    out = [f"workers: ingest through `logriver serve --workers N`, batch {batch}, concurrency {concurrency}"]
    for r in results:
        per_line = r.server_cpu_seconds / r.lines * 1e6
        who = f"{r.workers} worker{'s' if r.workers > 1 else ''}, {'a tail open' if r.tailed else 'no tail'}"
        out.append(
            f"  {who:<24} {r.rate:9.0f} lines/s  {r.seconds:7.2f} s  "
            f"retries {r.retries}  logriver CPU {r.server_cpu_seconds:.2f} s ({per_line:.0f} µs/line)"
        )
    return out


def tail_p99_ms(results: list[TailResult]) -> float:
    """The p99 with one worker, which the target is about; without that run, the worst p99 measured.

    With several workers the bench sends every line through another worker than the tail's, so
    those lines wait for the shared poll's settle time by design; their p99 is printed per count.
    """
    single = [r for r in results if r.workers == 1]
    return max((percentile(r.latencies, 0.99) * 1000 for r in single or results), default=float("nan"))


def tail_lines(results: list[TailResult], interval: float) -> list[str]:
    out = [f"tail: one line every {interval * 1000:.0f} ms, a tail on its labels, POST answer -> SSE line"]
    for r in results:
        where = f", {r.cross_worker} of {len(r.latencies)} accepted by another worker" if r.workers > 1 else ""
        out.append(
            f"  {r.workers} worker{'s' if r.workers > 1 else ' '} p50 {percentile(r.latencies, 0.5) * 1000:6.0f} ms"
            f"  p99 {percentile(r.latencies, 0.99) * 1000:6.0f} ms  max {max(r.latencies) * 1000:6.0f} ms"
            f"  ({len(r.latencies)} lines{where}; logriver CPU {r.server_cpu_seconds:.1f} s)"
        )
    p99 = tail_p99_ms(results)
    which = "1 worker" if any(r.workers == 1 for r in results) else "worst"
    out.append(f"  tail p99 ({which}) {p99:.0f} ms  (target <= {TAIL_TARGET_MS} ms: {_verdict(p99 <= TAIL_TARGET_MS)})")
    return out


def storage_lines(result: StorageResult) -> list[str]:
    out = [
        f"storage: {result.lines} lines in {result.streams} streams ({result.message_bytes / result.lines:.0f} bytes "
        "of message a line), one shard, no replica, force-merged to one segment",
        "  bytes a line    fields    merged  unmerged  (fields: the sum _disk_usage gives; largest fields)",
    ]
    for store in result.stores:
        top = sorted(store.fields.items(), key=lambda item: -item[1])[:6]
        fields = "  ".join(f"{name} {size / store.docs:.1f}" for name, size in top)
        sizes = f"{store.fields_per_line():9.1f} {store.per_line():9.1f} {store.per_line(False):9.1f}"
        out.append(f"  {store.name:<9} {sizes}  ({fields})")
    out.append("  _disk_usage, bytes a line: " + " | ".join(store.name for store in result.stores))
    names = sorted(
        {name for store in result.stores for name in store.fields},
        key=lambda n: -max(store.fields.get(n, 0) / store.docs for store in result.stores),
    )
    for name in names:
        sizes = [store.fields.get(name, 0) / store.docs for store in result.stores]
        if max(sizes) >= 0.05:
            out.append(f"    {name:<26}" + "".join(f"{size:9.2f}" for size in sizes))
    met = _verdict(result.ratio <= STORE_TARGET)
    out.append(f"  store ratio logriver/plain by fields {result.ratio:.3f}  (target <= {STORE_TARGET}: {met})")
    return out


def final_line(
    ingest: float,
    depth: float,
    peak_rss_mib: float = float("nan"),
    tail_p99: float = float("nan"),
    *,
    page: float = float("nan"),
    store: float = float("nan"),
    otlp: float = float("nan"),
) -> str:
    return (
        f"ingest_ratio={ingest:.2f} depth_ratio={depth:.2f} page_ratio={page:.2f} store_ratio={store:.2f} "
        f"peak_rss_mib={peak_rss_mib:.0f} tail_p99_ms={tail_p99:.0f} otlp_ratio={otlp:.2f}"
    )


def otlp_lines(result: IngestResult, batch: int, concurrency: int, rounds: int) -> list[str]:
    """The OTLP section: both ways' rates on the same documents, and their ratio."""
    otlp_rate, raw_rate = result.lines / result.api.seconds, result.lines / result.raw.seconds
    return [
        f"otlp: {result.lines} lines, {batch} per request, {concurrency} clients, {rounds} rounds",
        f"  OTLP/HTTP protobuf {otlp_rate:,.0f} lines/s ({result.api.retries} retried requests)",
        f"  raw _bulk          {raw_rate:,.0f} lines/s ({result.raw.retries} retried requests)",
        f"  server CPU {result.server_cpu_seconds:.1f} s, peak RSS {result.server_peak_rss_mib:.0f} MiB",
        f"  otlp_ratio={result.ratio:.2f}",
    ]
