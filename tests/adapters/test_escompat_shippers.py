"""Contract tests: the exact requests of shippers that cannot run here, and the answers they rely on.

Bodies, headers and status handling follow each shipper's own source (see the README, "Log shippers").
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import time

import orjson

from logriver.core.timeutil import format_rfc3339_ns
from tests.adapters.es_helpers import basic, call, ndjson, read_back, statuses
from tests.helpers import ts

FILTER_PATH = "errors,items.*.error,items.*.status"  # Logstash and Filebeat


def day() -> str:
    return time.strftime("%Y.%m.%d", time.gmtime())


def accepted(status: int) -> bool:
    """What every shipper counts as delivered: 2xx, and 409 (already there) for create."""
    return 200 <= status < 300 or status == 409


# --- Fluent Bit `es` output ------------------------------------------------------------------------


def fluent_bit_chunk(records: list[dict], generate_id: bool = False) -> bytes:
    rows = []
    for record in records:
        meta = {"_index": f"logstash-{day()}", "_type": "_doc"}
        if generate_id:
            meta["_id"] = hashlib.md5(orjson.dumps(record)).hexdigest()  # Generate_ID hashes the record
        rows += [{"create": meta}, record]
    return ndjson(*rows)


FLUENT_BIT_HEADERS = {"Content-Type": "application/x-ndjson", "User-Agent": "Fluent-Bit", **basic()}


async def test_fluent_bit_chunk_with_one_bad_record(api):
    records = [
        {"@timestamp": ts(-3), "log": "GET /\n", "stream": "stdout", "kubernetes": {"pod_name": "web-1"}},
        {"@timestamp": "not-a-time", "log": "broken"},
        {"@timestamp": ts(-1), "log": "POST /\n", "stream": "stderr", "kubernetes": {"pod_name": "web-1"}},
    ]
    answer = await call(api, "POST", "/_bulk", fluent_bit_chunk(records), FLUENT_BIT_HEADERS, refresh="wait_for")
    # Non-2xx would make Fluent Bit retry the whole chunk; errors:true with one success is "done".
    assert answer.status == 200 and answer.body["errors"] is True
    assert statuses(answer) == [201, 400, 201]
    assert [line["message"] for line in await read_back(api, index="logstash")] == ["GET /\n", "POST /\n"]


async def test_fluent_bit_gzip_retry_with_generated_ids_is_idempotent(api):
    records = [{"@timestamp": ts(-i), "log": f"line {i}"} for i in (2, 1)]
    body = gzip.compress(fluent_bit_chunk(records, generate_id=True))
    headers = {**FLUENT_BIT_HEADERS, "Content-Encoding": "gzip"}
    first = await call(api, "POST", "/_bulk", body, headers, refresh="wait_for")
    retried = await call(api, "POST", "/_bulk", body, headers, refresh="wait_for")
    assert statuses(first) == [201, 201] and statuses(retried) == [409, 409]
    assert all(accepted(s) for s in statuses(retried))
    assert len(await read_back(api, index="logstash")) == 2


# --- Vector `elasticsearch` sink ------------------------------------------------------------------


async def test_vector_start_up_probes(api):
    health = await call(api, "GET", "/_cluster/health", headers=basic())
    assert health.status == 200  # Vector's health check needs exactly this
    version = await call(api, "GET", "/", headers=basic())
    assert int(version.body["version"]["number"].split(".")[0]) >= 8  # api_version: auto


async def test_vector_whole_request_retry_does_not_duplicate(api):
    # Vector retries a whole request on 429/5xx/timeouts: the same body must not store lines twice.
    body = gzip.compress(
        ndjson(
            *[
                row
                for i in range(3)
                for row in (
                    {"index": {"_index": f"vector-{day()}"}},
                    {"@timestamp": ts(-3 + i), "message": f"v{i}", "host": "vector-host", "source_type": "file"},
                )
            ]
        )
    )
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip", **basic()}
    for _ in range(2):
        answer = await call(api, "POST", "/_bulk", body, headers, timeout="60s", refresh="wait_for")
        assert answer.status == 200 and statuses(answer) == [201, 201, 201]
    lines = await read_back(api, index="vector")
    assert [line["message"] for line in lines] == ["v0", "v1", "v2"]
    assert lines[0]["fields"] == {"host": "vector-host", "source_type": "file"}


# --- Logstash `elasticsearch` output ----------------------------------------------------------------


async def test_logstash_start_up(api):
    assert (await call(api, "HEAD", "/", headers=basic())).status == 200  # its health check
    root = await call(api, "GET", "/", headers=basic())
    assert root.headers["X-Elastic-Product"] == "Elasticsearch" and root.body["version"]["number"] >= "7"
    assert (await call(api, "GET", "/_license", headers=basic())).body["license"]["status"] == "active"
    template = b'{"index_patterns": "ecs-logstash-*", "template": {"settings": {"index.refresh_interval": "5s"}}}'
    assert (await call(api, "HEAD", "/_index_template/ecs-logstash", headers=basic())).status == 200
    put = await call(api, "PUT", "/_index_template/ecs-logstash", template, {"Content-Type": "application/json"})
    assert put.body == {"acknowledged": True}


async def test_logstash_bulk_with_filter_path_and_gzip(api):
    event = {"@version": "1", "host": {"name": "ls"}, "log": {"file": {"path": "/var/log/app.log"}}}
    rows = [
        {"index": {"_id": None, "_index": f"logstash-{day()}", "routing": None}},
        {**event, "@timestamp": ts(-2), "message": "first", "event": {"original": "first"}},
        {"index": {"_id": None, "_index": f"logstash-{day()}", "routing": None}},
        {**event, "@timestamp": "2001-01-01T00:00:00.000Z", "message": "ancient"},
        {"index": {"_id": None, "_index": f"logstash-{day()}", "routing": None}},
        {**event, "@timestamp": ts(-1), "message": "second"},
    ]
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", **basic()}
    answer = await call(
        api, "POST", "/_bulk", gzip.compress(ndjson(*rows)), headers, filter_path=FILTER_PATH, refresh="wait_for"
    )
    assert answer.status == 200
    assert set(answer.body) == {"errors", "items"} and answer.body["errors"] is True
    # 400 goes to Logstash's dead letter queue; anything but 200/201/409/400/404 would be retried forever.
    assert [item["index"]["status"] for item in answer.body["items"]] == [201, 400, 201]
    assert set(answer.body["items"][1]["index"]) == {"status", "error"}
    lines = await read_back(api, index="logstash")
    assert [line["message"] for line in lines] == ["first", "second"]
    assert lines[0]["fields"]["log"] == {"file": {"path": "/var/log/app.log"}}


async def test_logstash_data_stream_mode(api):
    rows = [
        {"create": {"_index": "logs-generic-default"}},
        {
            "@timestamp": ts(),
            "message": "ds",
            "data_stream": {"type": "logs", "dataset": "generic", "namespace": "default"},
        },
    ]
    answer = await call(
        api,
        "POST",
        "/_bulk",
        ndjson(*rows),
        {"Content-Type": "application/json"},
        filter_path=FILTER_PATH,
        refresh="wait_for",
    )
    assert answer.body == {"errors": False, "items": [{"create": {"status": 201}}]}
    assert (await read_back(api, index="logs-generic-default"))[0]["message"] == "ds"


# --- Filebeat ---------------------------------------------------------------------------------------------


FILEBEAT_HEADERS = {
    "Content-Type": "application/json; charset=UTF-8",
    "Accept": "application/json",
    "User-Agent": "Filebeat/8.12.0",
    **basic(),
}


async def test_filebeat_start_up(api):
    root = await call(api, "GET", "/", headers=FILEBEAT_HEADERS)
    assert root.body["version"]["build_flavor"] == "default"  # not serverless
    assert tuple(int(p) for p in root.body["version"]["number"].split(".")[:2]) >= (8, 0)
    for path in ("/_index_template/filebeat-8.12.0", "/_ilm/policy/filebeat"):
        assert (await call(api, "GET", path, headers=FILEBEAT_HEADERS)).status == 200


async def test_filebeat_bulk(api):
    def event(offset: int, message: str) -> dict:
        return {
            "@timestamp": ts(-5 + offset),
            "message": message,
            "input": {"type": "filestream"},
            "log": {"offset": offset, "file": {"path": "/var/log/syslog"}},
            "ecs": {"version": "8.0.0"},
            "host": {"name": "fb"},
            "agent": {"type": "filebeat", "version": "8.12.0"},
        }

    rows = [
        row for i, m in enumerate(["a", "b", "c"]) for row in ({"create": {"_index": "filebeat-8.12.0"}}, event(i, m))
    ]
    body = gzip.compress(ndjson(*rows))
    answer = await call(
        api,
        "POST",
        "/_bulk",
        body,
        {**FILEBEAT_HEADERS, "Content-Encoding": "gzip"},
        filter_path=FILTER_PATH,
        refresh="wait_for",
    )
    assert answer.body == {"errors": False, "items": [{"create": {"status": 201}}] * 3}
    lines = await read_back(api, index="filebeat-8.12.0")
    assert [line["message"] for line in lines] == ["a", "b", "c"]
    assert lines[2]["fields"]["log"] == {"offset": 2, "file": {"path": "/var/log/syslog"}}


async def test_filebeat_too_large_request_is_a_413_it_can_split(make_api, settings):
    api = await make_api(dataclasses.replace(settings, max_request_bytes=4096))
    rows = [row for i in range(40) for row in ({"create": {"_index": "filebeat-8.12.0"}}, {"message": "x" * 100})]
    answer = await call(
        api, "POST", "/_bulk", gzip.compress(ndjson(*rows)), {**FILEBEAT_HEADERS, "Content-Encoding": "gzip"}
    )
    assert answer.status == 413 and answer.headers["X-Elastic-Product"] == "Elasticsearch"
    assert answer.body["status"] == 413


# --- Scale's fluentd (fluent-plugin-elasticsearch, logstash_format, prefix scalelogs) ---------------------


SCALE_PROFILE = {
    "es_compat_label_fields": "job_exe_id,stream,scale_task,scale_node,scale_job_exe",
    "es_compat_order_field": "scale_order_num",
}


def scale_record(message: str, stream: str, timestamp_ns: int, order: int) -> dict:
    # As Scale's record_transformer builds it, plus job_exe_id/scale_task/scale_node from the profile.
    return {
        "message": message,
        "scale_job_exe": "scale_42_1",
        "scale_job_type": "my-job",
        "scale_job_version": "1.0",
        "scale_job_id": 7,
        "scale_job_exe_num": 1,
        "host": "10.0.0.5",
        "stream": stream,
        "scale_order_num": order,
        "job_exe_id": 42,
        "scale_task": "scale_42_1_0",
        "scale_node": "node-1",
        "@timestamp": format_rfc3339_ns(timestamp_ns).replace("Z", "+00:00"),
    }


async def test_scale_fluentd_feeds_the_job_execution_log_api(make_api, settings):
    api = await make_api(dataclasses.replace(settings, **SCALE_PROFILE))
    assert (await call(api, "GET", "/", headers=basic())).body["tagline"] == "You Know, for Search"
    same = time.time_ns() - 5_000_000_000
    records = [
        scale_record("third", "stdout", same, 300),
        scale_record("first", "stdout", same, 100),
        scale_record("oops", "stderr", same, 200),
        scale_record("last", "stdout", same + 1000, 5),
    ]
    rows = [row for record in records for row in ({"index": {"_index": f"scalelogs-{day()}"}}, record)]
    answer = await call(
        api, "POST", "/_bulk", ndjson(*rows), {"Content-Type": "application/x-ndjson"}, refresh="wait_for"
    )
    assert statuses(answer) == [201] * 4

    response = await api.http.get("/v6/job-executions/42/logs/combined/", headers={"Authorization": "Token rw-acme"})
    assert response.status == 200, await response.text()
    log = await response.json()
    assert [entry["message"] for entry in log] == ["first", "oops", "third", "last"]
    assert log[1] | {"@timestamp": None} == {
        "message": "oops",
        "@timestamp": None,
        "scale_order_num": 200,
        "scale_task": "scale_42_1_0",
        "scale_job_exe": "scale_42_1",
        "scale_node": "node-1",
        "stream": "stderr",
    }
    stderr = await api.http.get(
        "/v6/job-executions/42/logs/stderr/?format=txt", headers={"Authorization": "Token rw-acme"}
    )
    assert await stderr.text() == "oops"
