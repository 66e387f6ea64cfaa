"""OTLP/HTTP logs from the reference exporters, read back exactly through the native API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import TraceFlags

from logriver.core.timeutil import parse_rfc3339_ns
from tests.adapters.protocol_clients import read_stream

RESOURCE = {
    "service.name": "checkout",
    "service.namespace": "shop",
    "deployment.environment.name": "prod",
    "host.name": "host-1",  # not a stream label: a field
    "process.pid": 4242,
}
LABELS = {"service_name": "checkout", "service_namespace": "shop", "deployment_environment_name": "prod"}
SCOPE = {"name": "checkout.payments", "version": "1.2.3"}


def python_record(i: int, base_ns: int) -> dict[str, Any]:
    """Record i: attributes of every type the SDK sends, a string or a structured body."""
    attributes: dict[str, Any] = {
        "text": f"v{i}",
        "flag": i % 2 == 0,
        "count": 2**40 + i,
        "ratio": i + 0.25,
        "tags": ["a", f"t{i}"],
        "ints": [1, -2, i],
        "floats": [0.5, -1.5],
        "bools": [True, False],
    }
    body: Any = f"payment {i} accepted" if i % 10 else {"order": i, "items": [{"sku": "x", "qty": 2}], "ok": True}
    timestamp = base_ns + i * 1_000 + 7  # distinct, to the nanosecond
    return {
        "timestamp": timestamp,
        "observed_timestamp": timestamp + 5,
        "trace_id": 0x5B8EFFF798038103D269B633813FC60C + i,
        "span_id": 0xEEE19B7EC3C1B174 + i,
        "trace_flags": TraceFlags(1),
        "severity_text": "WARN",
        "severity_number": SeverityNumber.WARN,
        "body": body,
        "attributes": attributes,
        "event_name": "payment.accepted" if i % 7 == 0 else None,
    }


def export_python(endpoint: str, token: str, records: list[dict[str, Any]], **exporter: Any) -> None:
    """The official Python SDK: batch processor, HTTP/protobuf exporter, gzip."""
    provider = LoggerProvider(resource=Resource(RESOURCE))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(
                endpoint=endpoint,
                headers={"Authorization": f"Bearer {token}"},
                compression=Compression.Gzip,
                **exporter,
            ),
            max_export_batch_size=512,
            max_queue_size=len(records),
        )
    )
    logger = provider.get_logger(SCOPE["name"], SCOPE["version"])
    for record in records:
        logger.emit(LogRecord(**record))
    provider.force_flush()
    provider.shutdown()


def expected_line(record: dict[str, Any]) -> dict[str, Any]:
    """The native line a record becomes (docs/otlp.md)."""
    body = record["body"]
    fields: dict[str, Any] = {
        "resource": {"host.name": "host-1", "process.pid": 4242},
        "scope": SCOPE,
        "attributes": record["attributes"],
        "severity_number": int(record["severity_number"].value),
        "severity_text": record["severity_text"],
        "trace_id": f"{record['trace_id']:032x}",
        "span_id": f"{record['span_id']:016x}",
        "flags": 1,
    }
    if record["event_name"]:
        fields["event_name"] = record["event_name"]
    if not isinstance(body, str):
        fields["body"] = body
    return {"timestamp_ns": record["timestamp"], "observed_ns": record["observed_timestamp"], "fields": fields}


def assert_line(line: dict[str, Any], expected: dict[str, Any], message: str) -> None:
    assert parse_rfc3339_ns(line["@timestamp"]) == expected["timestamp_ns"]
    assert line["labels"] == LABELS
    assert line["message"] == message
    fields = dict(line["fields"])
    assert parse_rfc3339_ns(fields.pop("observed_timestamp")) == expected["observed_ns"]
    assert fields == expected["fields"]


async def test_python_sdk_records_read_back_exactly(make_api):
    api = await make_api()
    base_ns = time.time_ns() - 600 * 10**9
    records = [python_record(i, base_ns) for i in range(3000)]
    endpoint = f"{api.http.make_url('/otlp/v1/logs')}"
    await asyncio.to_thread(export_python, endpoint, "write-acme", records)
    lines = await read_stream(api, len(records), **LABELS)
    assert len(lines) == len(records)
    for line, record in zip(lines, records, strict=True):
        body = record["body"]
        if not isinstance(body, str):  # a structured body's message is its JSON text
            assert orjson.loads(line["message"]) == body
        assert_line(line, expected_line(record), body if isinstance(body, str) else line["message"])
