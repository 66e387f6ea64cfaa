"""OTLP answers: partial success, errors as google.rpc.Status, both routes, and retried exports stored once."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from logriver.app import create_app
from tests.adapters.protocol_clients import read_stream
from tests.adapters.test_otlp import LABELS, export_python, python_record
from tests.helpers import ApiClient, auth

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def export_request(service: str, records: list[LogRecord]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    resource_logs.scope_logs.add().log_records.extend(records)
    return request


def text_record(message: str, time_ns: int, **extra: Any) -> LogRecord:
    return LogRecord(time_unix_nano=time_ns, body=AnyValue(string_value=message), **extra)


async def post(api: ApiClient, path: str, body: bytes, headers: dict[str, str], token: str = "write-acme"):
    return await api.http.post(path, data=body, headers={**auth(token), **headers})


async def test_refused_records_are_counted_in_partial_success(make_api, settings):
    now = time.time_ns()
    records = [
        text_record("kept 0", now),
        text_record("too old", 631152000 * 10**9),  # 1990, before the retention window
        text_record("kept 1", now + 1),
        text_record("bad trace id", now + 2, trace_id=b"\x01\x02"),
        text_record("x" * 2048, now + 3),
        text_record("kept 2", now + 4),
    ]
    api = await make_api(dataclasses.replace(settings, max_message_bytes=1024))
    response = await post(api, "/otlp/v1/logs", export_request("partial", records).SerializeToString(), PROTOBUF)
    assert response.status == 200 and response.content_type == "application/x-protobuf"
    answer = ExportLogsServiceResponse.FromString(await response.read())
    assert answer.partial_success.rejected_log_records == 3
    message = answer.partial_success.error_message
    assert "record 1: too_old" in message and "record 3: invalid_trace_id" in message
    assert "record 4: message_too_long" in message
    lines = await read_stream(api, 3, service_name="partial")
    assert [line["message"] for line in lines] == ["kept 0", "kept 1", "kept 2"]


async def test_json_answers_in_json_with_partial_success(make_api):
    api = await make_api()
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-raw"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(time.time_ns()),
                                "severityNumber": 9,
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "body": {"stringValue": "hello"},
                                "attributes": [{"key": "n", "value": {"intValue": "9007199254740993"}}],
                                "someFutureField": {"ignored": True},
                            },
                            {"timeUnixNano": 1, "body": {"stringValue": "1970"}},
                        ]
                    }
                ],
            }
        ]
    }
    response = await api.http.post("/v1/logs", json=body, headers=auth("write-acme"))
    assert response.status == 200 and response.content_type == "application/json"
    answer = await response.json()
    assert answer["partialSuccess"]["rejectedLogRecords"] in (1, "1")
    (line,) = await read_stream(api, 1, service_name="json-raw")
    assert line["message"] == "hello"
    assert line["fields"]["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert line["fields"]["span_id"] == "eee19b7ec3c1b174"
    assert line["fields"]["attributes"] == {"n": 9007199254740993}  # 64-bit, exactly
    assert line["fields"]["severity_number"] == 9


@pytest.mark.parametrize("path", ["/otlp/v1/logs", "/v1/logs"])
@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        (PROTOBUF, b"\xff\xff\xff", 400, 3),
        (JSON, b'{"resourceLogs": 5}', 400, 3),
        (JSON, b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}', 400, 3),
        (JSON, b"not json", 400, 3),
        ({"Content-Type": "text/plain"}, b"hello", 415, 3),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip", 400, 3),
    ],
)
async def test_undecodable_bodies_get_a_status_in_the_request_encoding(api, path, headers, body, status, code):
    response = await post(api, path, body, headers)
    assert response.status == status
    raw = await response.read()
    if headers["Content-Type"] == "application/x-protobuf":
        answer = Status.FromString(raw)
        assert (answer.code, bool(answer.message)) == (code, True)
    else:
        answer_json = await response.json()
        assert answer_json["code"] == code and answer_json["message"]


async def test_limits_and_tokens(make_api, settings):
    api = await make_api(dataclasses.replace(settings, max_request_bytes=1000))
    big = export_request("big", [text_record("x" * 900, time.time_ns()), text_record("y" * 900, time.time_ns())])
    response = await post(
        api, "/otlp/v1/logs", gzip.compress(big.SerializeToString()), {**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status == 413 and "LOGRIVER_MAX_REQUEST_BYTES" in Status.FromString(await response.read()).message
    small = export_request("small", [text_record("ok", time.time_ns())]).SerializeToString()
    assert (await post(api, "/v1/logs", small, PROTOBUF, token="nope")).status == 401
    assert (await post(api, "/v1/logs", small, PROTOBUF, token="read-acme")).status == 403
    wrong_method = await api.http.get("/v1/logs", headers=auth())
    assert wrong_method.status == 405 and (await wrong_method.json())["code"] == 12


async def test_modelarts_keeps_the_rest_of_v1(api):
    """`/v1/logs` is OTLP's, everything else under `/v1` still answers in ModelArts' envelope."""
    response = await api.http.get("/v1/unknown/path", headers=auth())
    assert response.status == 404 and "error_code" in await response.json()


class BulkDroppingProxy:
    """An HTTP proxy in front of Elasticsearch that, while `dropping`, forwards bulk calls and hangs up.

    Elasticsearch has stored those lines, but logriver never hears so: its answer is a 503, and
    only the exporter's own retry can complete the export.
    """

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.dropping = True
        self.dropped = 0
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.session = aiohttp.ClientSession(auto_decompress=False)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
        if self.session:
            await self.session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self.session.request(
            request.method, self.target + request.path_qs, data=await request.read(), headers=headers
        ) as upstream:
            body = await upstream.read()
            if request.path.endswith("/_bulk") and self.dropping:
                self.dropped += 1
                assert request.transport is not None
                request.transport.close()  # stored upstream, never answered
                raise ConnectionResetError("answer dropped on purpose")
            skip = ("content-length", "transfer-encoding", "connection")
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in skip}
            return web.Response(body=body, status=upstream.status, headers=kept)


async def test_an_export_during_a_storage_outage_is_retried_by_the_exporter_and_stored_once(
    aiohttp_client, es, es_url, settings, token_store
):
    proxy = BulkDroppingProxy(es_url)
    await proxy.start()
    failures: list[int] = []

    async def storage_back_after_a_failure(request: web.Request, response: web.StreamResponse) -> None:
        # The outage ends once logriver has refused the export: the next success is the exporter's retry.
        if request.path == "/otlp/v1/logs" and response.status >= 500:
            failures.append(response.status)
            proxy.dropping = False

    try:
        app = create_app(dataclasses.replace(settings, retry_after_seconds=1), token_store, proxy.url)
        app.on_response_prepare.append(storage_back_after_a_failure)
        client = await aiohttp_client(app)
        while (await client.get("/readyz")).status != 200:
            await asyncio.sleep(0.1)
        records = [python_record(i, time.time_ns() - 60 * 10**9) for i in range(300)]
        endpoint = str(client.make_url("/otlp/v1/logs"))
        await asyncio.to_thread(export_python, endpoint, "write-acme", records, timeout=60)
        assert failures and set(failures) == {503} and proxy.dropped >= 1
        lines = await read_stream(ApiClient(client), len(records), **LABELS)
        assert [line["fields"]["attributes"]["text"] for line in lines] == [f"v{i}" for i in range(300)]
        await es.indices.refresh(index=f"{settings.index_prefix}-*")
        stored = await es.count(index=f"{settings.index_prefix}-lines-*")
        assert stored["count"] == len(records)  # the lines the dropped calls stored were not stored again
    finally:
        await proxy.stop()
