"""Prometheus metrics: the instruments every part of the service counts into, and their exposition.

One `Metrics` is built per application (in `build_services`) and handed to whatever counts;
nothing here is a module-level instrument. Every label value comes from a closed set (the
protocols below, the rejection codes of `core/rejections.py`, route templates, status codes), so
no series is ever created per tenant, stream or path.

Several workers. prometheus-client's multiprocess mode keeps each process's values in files of
the directory named by `PROMETHEUS_MULTIPROC_DIR`, and a scrape of any worker sums them. The
library chooses that mode once, when it is first imported, from that variable; it is the one
import-time global we rely on, and only because the library requires it. `serve --workers N`
creates the directory per service, sets the variable before the workers are spawned, forgets a
dead worker's gauges and deletes the directory at exit (`shared_metrics_dir`, `forget_worker`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Metric, values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from logriver.core.rejections import reason_codes

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # the library's own variable; see the module docstring
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus 2.x and 3.x reads

# Write protocols, one per family that takes lines; a new family adds its name here.
PROTOCOLS = ("native", "es_bulk", "otlp", "loki", "iceprod")
OTHER_REASON = "other"  # a rejection code outside core/rejections.py (a bug): counted, never a new series
UNMATCHED_ROUTE = "unmatched"  # every path no route matches is one value, whatever the path
# How several workers' values of a gauge combine; `live` modes leave a dead worker's value out.
GaugeMode = Literal["livesum", "livemin", "livemax"]
BULK_RESULTS = ("created", "exists", "rejected", "unavailable")  # the writer's per-item outcomes


class ProtocolMetrics:
    """The counts one write protocol reports: lines and bytes received, lines rejected by reason."""

    def __init__(self, metrics: Metrics, protocol: str):
        self.protocol = protocol
        self._lines = metrics.lines_received.labels(protocol)
        self._bytes = metrics.bytes_received.labels(protocol)
        self._rejected = metrics.lines_rejected
        self._codes = reason_codes()

    def received(self, lines: int, body_bytes: int) -> None:
        """Lines decoded from one request body (each counted, stored or not) and that body's size."""
        self._lines.inc(lines)
        self._bytes.inc(body_bytes)

    def rejected(self, codes: Iterable[str]) -> None:
        """Lines the answer reports as refused, one rejection code each."""
        counts: dict[str, int] = {}
        for code in codes:
            label = code if code in self._codes else OTHER_REASON
            counts[label] = counts.get(label, 0) + 1
        for label, count in counts.items():
            self._rejected.labels(self.protocol, label).inc(count)


class Metrics:
    """Every instrument of one service process, in its own registry (never the library's global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._multiproc_dir = _multiprocess_dir()
        self._add_ingest()
        self._add_http_and_admission()
        self._add_storage_and_tail()
        self.build_info = self._gauge(
            "logriver_build_info", "Always 1; the labels name the running version.", ["version", "python"], "livemax"
        )
        self.build_info.labels(_version(), platform.python_version()).set(1)
        self._protocols = {name: ProtocolMetrics(self, name) for name in PROTOCOLS}
        # Every refusal series exists from the start at 0 (protocols x codes: bounded), so that rate() sees
        # the first refusal of a kind: a series born at 1 shows no increase until its second.
        for name in PROTOCOLS:
            for code in (*reason_codes(), OTHER_REASON):
                self.lines_rejected.labels(name, code)

    def _add_ingest(self) -> None:
        self.lines_received = Counter(
            "logriver_lines_received_total",
            "Lines decoded from write requests, stored or rejected; a retried request counts again.",
            ["protocol"],
            registry=self.registry,
        )
        self.bytes_received = Counter(
            "logriver_bytes_received_total",
            "Bytes of the write request bodies whose lines were counted, after decompression.",
            ["protocol"],
            registry=self.registry,
        )
        self.lines_rejected = Counter(
            "logriver_lines_rejected_total",
            "Lines the answer reported as refused, by rejection code (docs/api.md).",
            ["protocol", "reason"],
            registry=self.registry,
        )

    def _add_http_and_admission(self) -> None:
        self.http_duration = Histogram(
            "logriver_http_request_duration_seconds",
            "Time from a request's start to its response's end, by family, route template and status.",
            ["family", "route", "code"],
            registry=self.registry,
        )
        self.admission_in_flight = self._gauge(
            "logriver_admission_bytes_in_flight", "Request bytes admitted and not yet released.", [], "livesum"
        )
        self.admission_refused = Counter(
            "logriver_admission_refused_total",
            "Write requests refused with 429 because LOGRIVER_MAX_INFLIGHT_BYTES stayed full.",
            registry=self.registry,
        )

    def _add_storage_and_tail(self) -> None:
        self.es_bulk_duration = Histogram(
            "logriver_es_bulk_duration_seconds", "Duration of each bulk call to Elasticsearch.", registry=self.registry
        )
        self.es_bulk_items = Counter(
            "logriver_es_bulk_items_total",
            "Items of bulk calls by outcome: created, exists (a replay), rejected, unavailable (retried).",
            ["result"],
            registry=self.registry,
        )
        self.storage_ready = self._gauge(
            "logriver_storage_ready", "1 when every worker has storage ready, else 0.", [], "livemin"
        )
        self.tail_connections = self._gauge("logriver_tail_connections", "Open live-tail streams.", [], "livesum")
        self.tail_delivered = Counter(
            "logriver_tail_lines_delivered_total", "Lines sent to live-tail clients.", registry=self.registry
        )
        self.tail_dropped = Counter(
            "logriver_tail_lines_dropped_total",
            "Lines a live-tail client read too slowly to receive (reported to it as `dropped`).",
            registry=self.registry,
        )
        for result in BULK_RESULTS:
            self.es_bulk_items.labels(result)

    def _gauge(self, name: str, documentation: str, labels: list[str], mode: GaugeMode) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry, multiprocess_mode=mode)

    def protocol(self, name: str) -> ProtocolMetrics:
        """The counts of one write protocol; its name must be one of PROTOCOLS."""
        try:
            return self._protocols[name]
        except KeyError:
            raise ValueError(f"unknown protocol {name!r}: add it to PROTOCOLS in core/metrics.py") from None

    def observe_request(self, family: str, route: str, code: int, seconds: float) -> None:
        self.http_duration.labels(family, route, str(code)).observe(seconds)

    def exposition(self) -> bytes:
        """The text exposition: this process's registry, or with several workers all of theirs summed."""
        if self._multiproc_dir is None:
            return generate_latest(_WithoutCreated(self.registry))
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=self._multiproc_dir)  # type: ignore[no-untyped-call]
        return generate_latest(combined)


class _WithoutCreated(Collector):
    """A registry's metrics without the `_created` samples, which the multiprocess mode cannot give.

    So that one worker and several expose the same series; dropped here rather than through the
    library's process-wide switch, which would reach every registry of the process.
    """

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self.registry.collect():
            metric.samples = [sample for sample in metric.samples if not sample.name.endswith("_created")]
            yield metric


def _multiprocess_dir() -> str | None:
    """The shared directory, when the library runs in its multiprocess mode (decided at its import)."""
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and getattr(values.ValueClass, "_multiprocess", False) else None


def _version() -> str:
    try:
        return metadata.version("logriver")
    except metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[str]:
    """A fresh directory for one service's workers, named in the environment they are spawned with.

    Fresh, so that no file of an earlier run adds to the totals; removed when the service stops.
    """
    path = tempfile.mkdtemp(prefix="logriver-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def forget_worker(path: str, pid: int) -> None:
    """A worker died: drop its gauges (its connections and bytes went with it); its counters stay."""
    mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
