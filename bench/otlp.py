"""OTLP: the ingest lines as OTLP/HTTP protobuf exports, against raw `_bulk` of the documents they become.

Each line is a log record whose resource carries its labels (made stream labels by
LOGRIVER_OTLP_LABEL_ATTRIBUTES) and whose attributes carry its fields, so logriver stores
`fields.attributes`; the raw `_bulk` way writes exactly those documents. Rounds alternate as in
bench/ingest.py, in the same run, on the same node.
"""

from __future__ import annotations

from dataclasses import replace

import aiohttp
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from bench.cluster import Cluster
from bench.ingest import IngestResult, Way, _phase, _rounds
from bench.logs import Batch, ingest_batches, raw_bulk_body
from bench.send import MAX_ATTEMPTS, BenchError, Sender, _backoff, raw_sender, session
from bench.server import ServerProcess
from logriver.core.timeutil import format_rfc3339_ns, now_ns, parse_rfc3339_ns
from logriver.ingest.writer import SequenceAllocator

LABEL_ATTRIBUTES = "env,host,app"


def otlp_body(batch: Batch) -> bytes:
    """One export: a ResourceLogs per stream, records in the batch's order within each."""
    resources: dict[tuple[tuple[str, str], ...], list[dict[str, object]]] = {}
    for line in batch.lines:
        labels = {**batch.shared_labels, **line.get("labels", {})}
        record: dict[str, object] = {
            "timeUnixNano": str(parse_rfc3339_ns(line["@timestamp"])),
            "body": {"stringValue": line["message"]},
        }
        if line.get("fields"):
            record["attributes"] = [{"key": k, "value": _any(v)} for k, v in line["fields"].items()]
        resources.setdefault(tuple(labels.items()), []).append(record)
    request = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": k, "value": {"stringValue": v}} for k, v in labels]},
                "scopeLogs": [{"logRecords": records}],
            }
            for labels, records in resources.items()
        ]
    }
    return json_format.ParseDict(request, ExportLogsServiceRequest()).SerializeToString()


def _any(value: object) -> dict[str, object]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _any(v)} for k, v in value.items()]}}
    return {"stringValue": str(value)}


def stored_shape(batch: Batch) -> Batch:
    """The batch as logriver stores it from OTLP: fields under `attributes`, lines grouped by stream."""
    order: dict[tuple[tuple[str, str], ...], list[dict[str, object]]] = {}
    for line in batch.lines:
        labels = {**batch.shared_labels, **line.get("labels", {})}
        moved = {k: v for k, v in line.items() if k != "fields"}
        if line.get("fields"):
            moved["fields"] = {"attributes": line["fields"]}
        order.setdefault(tuple(labels.items()), []).append(moved)
    return replace(batch, lines=[line for lines in order.values() for line in lines])


def otlp_sender(http: aiohttp.ClientSession, base_url: str, headers: dict[str, str]) -> Sender:
    """POST /otlp/v1/logs in protobuf; a 503 is retried whole, as exporters do."""
    url = f"{base_url}/otlp/v1/logs"
    request_headers = {**headers, "Content-Type": "application/x-protobuf"}

    async def send(body: bytes, lines: int) -> int:
        for attempt in range(MAX_ATTEMPTS):
            async with http.post(url, data=body, headers=request_headers) as response:
                status, payload = response.status, await response.read()
            if status in (429, 503):
                await _backoff(attempt)
                continue
            if status != 200 or payload:  # an empty ExportLogsServiceResponse: nothing refused
                raise BenchError(f"OTLP answered {status}: {payload[:500]!r}")
            return attempt
        raise BenchError(f"OTLP kept answering {status} after {MAX_ATTEMPTS} attempts")

    return send


async def measure_otlp(
    cluster: Cluster, lines: int, batch: int, concurrency: int, rounds: int, run_id: str
) -> IngestResult:
    """OTLP protobuf and raw `_bulk` of the same documents, rounds in ABBA order."""
    batches = ingest_batches(lines, batch, seed=4)
    otlp, raw = Way("otlp", f"lrbench-{run_id}-otlp"), Way("raw", f"lrbench-{run_id}-otraw")
    settings = {"LOGRIVER_OTLP_LABEL_ATTRIBUTES": LABEL_ATTRIBUTES}
    try:
        await cluster.install_templates(raw.prefix)
        layout, sequence = cluster.layout(raw.prefix), SequenceAllocator()
        async with ServerProcess(cluster.url, otlp.prefix, settings=settings) as server, session(concurrency) as http:
            cpu_before = server.cpu_seconds()
            senders = {"otlp": otlp_sender(http, server.url, server.headers), "raw": raw_sender(http, cluster.url)}
            for number, part in enumerate(_rounds(batches, rounds)):
                ingested = format_rfc3339_ns(now_ns())
                bodies = {
                    "otlp": [(otlp_body(b), len(b.lines)) for b in part],
                    "raw": [
                        (raw_bulk_body(stored_shape(b), layout, sequence, ingested)[0], len(b.lines)) for b in part
                    ],
                }
                for way in (otlp, raw) if number % 2 == 0 else (raw, otlp):
                    await _phase(cluster, way, senders[way.name], bodies[way.name], concurrency)
            cpu, rss = server.cpu_seconds() - cpu_before, server.peak_rss_mib()
        otlp.stored, raw.stored = await cluster.count(otlp.prefix), await cluster.count(raw.prefix)
        if otlp.stored != lines or raw.stored != lines:
            raise BenchError(f"lines lost: sent {lines}, stored otlp {otlp.stored}, raw {raw.stored}")
    finally:
        for prefix in (otlp.prefix, raw.prefix):
            await cluster.delete_prefix(prefix)
    return IngestResult(lines, 0, otlp, raw, cpu, rss)
