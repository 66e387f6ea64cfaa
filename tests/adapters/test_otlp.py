"""OTLP/HTTP logs from the reference exporters, read back exactly through the native API."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import orjson
import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import TraceFlags

from logriver.core.timeutil import parse_rfc3339_ns
from tests.adapters.protocol_clients import ensure_node_clients, read_stream, run_node

RESOURCE = {
    "service.name": "checkout",
    "service.namespace": "shop",
    "deployment.environment.name": "prod",
    "host.name": "host-1",  # not a stream label: a field
    "process.pid": 4242,
}
LABELS = {"service_name": "checkout", "service_namespace": "shop", "deployment_environment_name": "prod"}
SCOPE = {"name": "checkout.payments", "version": "1.2.3"}


@pytest.fixture(scope="module")
def node_clients() -> None:
    ensure_node_clients()


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
            max_queue_size=max(len(records), 512),
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


def js_expected(i: int, base_seconds: int) -> dict[str, Any]:
    """What record i of clients/otlp_export.js becomes (the record is built there, identically)."""
    body: Any = f"payment {i} accepted" if i % 10 else {"order": i, "items": [{"sku": "x", "qty": 2}], "ok": True}
    fields: dict[str, Any] = {
        "resource": {"host.name": "host-2"},
        "scope": SCOPE,
        "attributes": {
            "text": f"v{i}",
            "flag": i % 2 == 0,
            "count": 2**40 + i,
            "ratio": i + 0.25,
            "tags": ["a", f"t{i}"],
            "mixed": [1, "a", True, 2.5],
            "map": {"k": "v", "n": 3, "deep": {"list": [i]}},
            "raw": base64.b64encode(bytes([0, 1, 2, i % 256])).decode(),
        },
        "severity_number": 17,
        "severity_text": "ERROR",
        "trace_id": f"{0x10000000 + i:032x}",
        "span_id": f"{0x20000000 + i:016x}",
        "flags": 1,
    }
    if i % 7 == 0:
        fields["event_name"] = "payment.accepted"
    if not isinstance(body, str):
        fields["body"] = body
    timestamp = base_seconds * 10**9 + i * 1000 + 7
    return {"timestamp_ns": timestamp, "observed_ns": timestamp + 5, "fields": fields, "body": body}


@pytest.mark.parametrize("protocol", ["json", "proto"])
async def test_js_sdk_exporters_read_back_exactly(make_api, node_clients, protocol):
    api = await make_api()
    service, count, base_seconds = f"js-{protocol}", 2000, int(time.time()) - 600
    config = {
        "url": str(api.http.make_url("/otlp/v1/logs")),
        "token": "write-acme",
        "protocol": protocol,
        "count": count,
        "baseSeconds": base_seconds,
        "service": service,
    }
    report = await run_node("otlp_export.js", config)
    assert report["results"] and set(report["results"]) == {0}  # ExportResultCode.SUCCESS for every batch
    labels = {"service_name": service, "k8s_namespace_name": "payments"}
    lines = await read_stream(api, count, **labels)
    assert len(lines) == count
    for i, line in enumerate(lines):
        expected = js_expected(i, base_seconds)
        assert line["labels"] == labels
        assert parse_rfc3339_ns(line["@timestamp"]) == expected["timestamp_ns"]
        body = expected["body"]
        assert (line["message"] if isinstance(body, str) else orjson.loads(line["message"])) == body
        fields = dict(line["fields"])
        assert parse_rfc3339_ns(fields.pop("observed_timestamp")) == expected["observed_ns"]
        assert fields == expected["fields"]
