"""The Elasticsearch-compatible surface over HTTP against the real app and Elasticsearch."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import time

import pytest

from logriver.app import create_app
from logriver.core.settings import Settings
from logriver.core.timeutil import parse_rfc3339_ns
from tests.adapters.es_helpers import PREFIX, basic, bulk, call, ndjson, read_back, statuses
from tests.helpers import ts

PRODUCT = ("X-Elastic-Product", "Elasticsearch")


def has_product_header(answer) -> bool:
    return answer.headers.get(PRODUCT[0]) == PRODUCT[1]


# --- probes and set-up calls -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "/"])
async def test_root_reports_a_configured_version(api, path):
    answer = await call(api, "GET", path)
    assert answer.status == 200 and has_product_header(answer)
    assert answer.body["version"]["number"] == Settings().es_compat_version
    assert answer.body["tagline"] == "You Know, for Search"
    head = await call(api, "HEAD", path)
    assert head.status == 200 and has_product_header(head)


async def test_version_number_follows_the_settings(make_api, settings):
    api = await make_api(dataclasses.replace(settings, es_compat_version="9.1.0"))
    assert (await call(api, "GET", "/")).body["version"]["number"] == "9.1.0"


async def test_license_is_active(api):
    answer = await call(api, "GET", "/_license")
    assert answer.status == 200 and has_product_header(answer)
    assert answer.body["license"]["status"] == "active"


async def test_cluster_health_and_cat_health(api):
    health = await call(api, "GET", "/_cluster/health")
    assert health.status == 200 and health.body["status"] == "green"
    text = await call(api, "GET", "/_cat/health")
    assert text.status == 200 and has_product_header(text) and " green " in text.body
    table = await call(api, "GET", "/_cat/health", v="")
    assert table.body.splitlines()[0].startswith("epoch timestamp cluster status")
    rows = await call(api, "GET", "/_cat/health", format="json")
    assert rows.body[0]["status"] == "green"


async def test_nodes_http_publishes_the_address_the_client_used(api):
    answer = await call(api, "GET", "/_nodes/http")
    (node,) = answer.body["nodes"].values()
    assert node["http"]["publish_address"] == f"{api.http.host}:{api.http.port}"
    assert (await call(api, "GET", "/_nodes/_local/http")).status == 200


@pytest.mark.parametrize(
    "kind", ["_index_template", "_template", "_ilm/policy", "_ingest/pipeline", "_data_stream", "_component_template"]
)
async def test_setup_calls_are_harmless(api, kind):
    put = await call(
        api, "PUT", f"/{kind}/logs", b'{"index_patterns": ["logs-*"]}', {"Content-Type": "application/json"}
    )
    assert put.status == 200 and put.body == {"acknowledged": True} and has_product_header(put)
    head = await call(api, "HEAD", f"/{kind}/logs")
    assert head.status == 200 and has_product_header(head)
    get = await call(api, "GET", f"/{kind}/logs")
    assert get.status == 200 and "logs" in str(get.body)
    assert (await call(api, "GET", f"/{kind}")).status == 200


@pytest.mark.parametrize("kind", ["_index_template", "_ilm/policy", "_data_stream"])
async def test_setup_deletes_refuse_unknown_parameters_by_name(api, kind):
    known = await call(api, "DELETE", f"/{kind}/logs", master_timeout="30s", timeout="30s")
    assert known.status == 200 and known.body == {"acknowledged": True}
    refused = await call(api, "DELETE", f"/{kind}/logs", expand_wildcards="all", force="true")
    assert refused.status == 400 and has_product_header(refused), refused.body
    assert refused.body["error"]["type"] == "illegal_argument_exception"
    assert "expand_wildcards, force" in refused.body["error"]["reason"]


async def test_index_creation_and_alias_probe_are_acknowledged(api):
    created = await call(
        api,
        "PUT",
        "/logstash-000001",
        b'{"aliases": {"logstash": {"is_write_index": true}}}',
        {"Content-Type": "application/json"},
    )
    assert created.status == 200 and created.body["acknowledged"] is True
    assert (await call(api, "HEAD", "/_alias/logstash")).status == 200


# --- errors: Elasticsearch's shape, product header on every answer -----------------------------


async def test_unknown_path_is_a_404_in_elasticsearch_shape(api):
    answer = await call(api, "GET", "/logs-x/_search")
    assert answer.status == 404 and has_product_header(answer)
    assert answer.body["status"] == 404
    assert answer.body["error"]["type"] == "no_handler_found_exception"
    assert answer.body["error"]["root_cause"][0]["reason"] == answer.body["error"]["reason"]


async def test_missing_credentials_are_a_401_security_exception(api):
    answer = await call(api, "GET", "/", headers={"Authorization": None})
    assert answer.status == 401 and has_product_header(answer)
    assert answer.body["error"]["type"] == "security_exception"
    assert any(v.startswith("Basic") for v in answer.headers.getall("WWW-Authenticate"))
    unknown = await call(api, "POST", "/_bulk", b"", basic("nope"))
    assert unknown.status == 401 and has_product_header(unknown)


async def test_bulk_needs_the_write_role(api):
    answer = await bulk(api, {"index": {"_index": "x"}}, {"message": "m"}, headers=basic("read-acme"))
    assert answer.status == 403 and has_product_header(answer)
    assert answer.body["error"]["type"] == "security_exception"


@pytest.mark.parametrize(
    "authorization",
    [
        "ApiKey " + base64.b64encode(b"key-id:rw-acme").decode(),
        "ApiKey rw-acme",
        "Bearer rw-acme",
        "Basic " + base64.b64encode(b"elastic:rw-acme").decode(),
    ],
)
async def test_shippers_authenticate_as_they_can(api, authorization):
    answer = await bulk(
        api,
        {"create": {"_index": "auth"}},
        {"message": "in", "@timestamp": ts()},
        headers={"Authorization": authorization},
    )
    assert answer.status == 200 and statuses(answer) == [201]


async def test_malformed_action_line_fails_the_whole_request(api):
    answer = await call(api, "POST", "/_bulk", ndjson({"upsert": {"_index": "x"}}, {"message": "m"}))
    assert answer.status == 400 and has_product_header(answer)
    assert "expected one of [create, delete, index, update]" in answer.body["error"]["reason"]
    not_json = await call(api, "POST", "/_bulk", b"{not json\n")
    assert not_json.status == 400
    dangling = await call(api, "POST", "/_bulk", ndjson({"index": {"_index": "x"}}))
    assert dangling.status == 400 and "no document line" in dangling.body["error"]["reason"]


async def test_empty_bulk_is_refused(api):
    answer = await call(api, "POST", "/_bulk", b"\n")
    assert answer.status == 400 and answer.body["error"]["type"] == "action_request_validation_exception"


async def test_other_media_types_are_refused(api):
    answer = await call(api, "POST", "/_bulk", b"x", {"Content-Type": "text/plain"})
    assert answer.status == 406 and has_product_header(answer)


async def test_storage_down_is_a_whole_request_503(aiohttp_client, settings, token_store):
    client = await aiohttp_client(create_app(settings, token_store, "http://127.0.0.1:9"))
    response = await client.post(
        f"{PREFIX}/_bulk",
        data=ndjson({"index": {"_index": "x"}}, {"message": "m"}),
        headers={**basic(), "Content-Type": "application/x-ndjson"},
    )
    body = await response.json()
    assert response.status == 503 and response.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert response.headers[PRODUCT[0]] == PRODUCT[1] and body["status"] == 503
    health = await client.get(f"{PREFIX}/_cluster/health", headers=basic())
    assert health.status == 200 and (await health.json())["status"] == "red"


# --- bulk -----------------------------------------------------------------------------------------


async def test_index_and_create_are_stored_and_read_back_in_order(api):
    rows = []
    for i in range(6):
        rows += [
            {"index" if i % 2 else "create": {"_index": "orders"}},
            {"@timestamp": ts(-10 + i), "message": f"m{i}"},
        ]
    answer = await bulk(api, *rows)
    assert answer.status == 200 and answer.body["errors"] is False
    assert statuses(answer) == [201] * 6
    assert [next(iter(item)) for item in answer.body["items"]] == ["create", "index"] * 3
    lines = await read_back(api, index="orders")
    assert [line["message"] for line in lines] == [f"m{i}" for i in range(6)]
    assert {next(iter(item.values()))["_id"] for item in answer.body["items"]} == {line["id"] for line in lines}


async def test_each_action_gets_its_own_status(api):
    answer = await bulk(
        api,
        {"create": {"_index": "mixed"}},
        {"@timestamp": ts(-3), "message": "first"},
        {"create": {"_index": "mixed"}},
        b"not json",
        {"create": {"_index": "mixed"}},
        {"@timestamp": "yesterday-ish", "message": "bad time"},
        {"create": {"_index": "mixed"}},
        {"@timestamp": "2001-01-01T00:00:00Z", "message": "too old"},
        {"update": {"_index": "mixed", "_id": "1"}},
        {"doc": {"message": "changed"}},
        {"delete": {"_index": "mixed", "_id": "1"}},
        {"create": {}},
        {"message": "no index"},
        {"index": {"_index": "mixed"}},
        {"@timestamp": ts(-1), "message": "last"},
    )
    assert answer.status == 200 and answer.body["errors"] is True
    assert statuses(answer) == [201, 400, 400, 400, 400, 400, 400, 201]
    items = [next(iter(item.values())) for item in answer.body["items"]]
    assert items[2]["error"]["type"] == "invalid_timestamp" and "yesterday-ish" in items[2]["error"]["reason"]
    assert items[3]["error"]["type"] == "too_old"
    assert "not supported" in items[4]["error"]["reason"] and "delete" in answer.body["items"][5]
    assert items[6]["error"]["type"] == "action_request_validation_exception"
    assert [line["message"] for line in await read_back(api, index="mixed")] == ["first", "last"]


async def test_replayed_ids_are_not_stored_twice(api):
    rows = [
        {"create": {"_index": "replay", "_id": "a"}},
        {"@timestamp": ts(-2), "message": "a"},
        {"index": {"_index": "replay", "_id": "b"}},
        {"@timestamp": ts(-1), "message": "b"},
    ]
    first = await bulk(api, *rows)
    assert statuses(first) == [201, 201]
    again = await bulk(api, *rows)
    create, index = (next(iter(item.values())) for item in again.body["items"])
    assert create["status"] == 409 and create["error"]["type"] == "version_conflict_engine_exception"
    assert index["status"] == 200 and index["result"] == "noop" and "error" not in index
    assert again.body["errors"] is True
    assert [line["message"] for line in await read_back(api, index="replay")] == ["a", "b"]


async def test_an_id_repeated_within_one_request_is_a_replay(api):
    answer = await bulk(
        api,
        {"create": {"_index": "twice", "_id": "x"}},
        {"@timestamp": ts(-1), "message": "one"},
        {"create": {"_index": "twice", "_id": "x"}},
        {"@timestamp": ts(-1), "message": "one"},
    )
    assert statuses(answer) == [201, 409]
    assert len(await read_back(api, index="twice")) == 1


async def test_the_index_in_the_path_is_the_default(api):
    answer = await bulk(
        api,
        {"create": {}},
        {"@timestamp": ts(), "message": "path"},
        {"create": {"_index": "other"}},
        {"@timestamp": ts(), "message": "meta"},
        path="/from-path/_bulk",
    )
    assert statuses(answer) == [201, 201]
    assert [i["create"]["_index"] for i in answer.body["items"]] == ["from-path", "other"]
    assert (await read_back(api, index="from-path"))[0]["message"] == "path"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-ndjson",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
    ],
)
async def test_bulk_content_types(api, content_type):
    answer = await bulk(
        api, {"index": {"_index": "ct"}}, {"message": content_type}, headers={"Content-Type": content_type}
    )
    assert statuses(answer) == [201]
    if "compatible-with" in content_type:
        assert (
            answer.headers["Content-Type"] == "application/vnd.elasticsearch+json;compatible-with=" + content_type[-1]
        )


async def test_gzip_bodies_and_put(api):
    body = gzip.compress(ndjson({"create": {"_index": "gz"}}, {"@timestamp": ts(), "message": "zipped"}))
    answer = await call(api, "PUT", "/_bulk", body, {"Content-Encoding": "gzip"}, refresh="true")
    assert answer.status == 200 and statuses(answer) == [201]
    assert (await read_back(api, index="gz"))[0]["message"] == "zipped"


async def test_filter_path_as_filebeat_and_logstash_send_it(api):
    answer = await bulk(
        api,
        {"create": {"_index": "fp"}},
        {"message": "ok"},
        {"create": {"_index": "fp"}},
        b"[]",
        filter_path="errors,items.*.error,items.*.status",
    )
    assert answer.body == {
        "errors": True,
        "items": [
            {"create": {"status": 201}},
            {"create": {"status": 400, "error": answer.body["items"][1]["create"]["error"]}},
        ],
    }
    assert set(answer.body["items"][1]["create"]["error"]) == {"type", "reason", "index"}
    only_errors = await bulk(api, {"create": {"_index": "fp"}}, {"message": "ok"}, filter_path="errors")
    assert only_errors.body == {"errors": False}


async def test_refresh_must_be_a_known_value(api):
    answer = await bulk(api, {"create": {"_index": "r"}}, {"message": "m"}, refresh="soon")
    assert answer.status == 400 and answer.body["error"]["type"] == "illegal_argument_exception"


# --- the document → line mapping ----------------------------------------------------------------


async def test_default_mapping(api):
    before = time.time_ns()
    answer = await bulk(
        api,
        {"create": {"_index": "logstash-2024.05.01"}},
        {"@timestamp": ts(-4), "message": "from message", "level": "info"},
        {"create": {"_index": "logstash-2024.05.02"}},
        {"@timestamp": ts(-3), "log": "from log\n", "stream": "stdout"},
        {"create": {"_index": "logstash.2024.05.03"}},
        {"@timestamp": int(time.time() * 1000) - 2000, "msg": "from msg"},
        {"create": {"_index": "logstash-2024.05.04"}},
        {"@timestamp": ts(-1)[:-1], "message": 42, "log": {"offset": 7}},
        {"create": {"_index": "logstash-2024.05.05"}},
        {"message": "no time", "host": {"name": "h1", "ip": ["10.0.0.1"]}},
    )
    assert statuses(answer) == [201] * 5
    lines = await read_back(api, index="logstash")
    assert [line["message"] for line in lines] == ["from message", "from log\n", "from msg", "42", "no time"]
    assert lines[0]["fields"] == {"level": "info"} and lines[1]["fields"] == {"stream": "stdout"}
    assert lines[3]["fields"] == {"log": {"offset": 7}}
    assert lines[4]["fields"] == {"host": {"name": "h1", "ip": ["10.0.0.1"]}}
    assert parse_rfc3339_ns(lines[4]["@timestamp"]) >= before
    assert {tuple(line["labels"].items()) for line in lines} == {(("index", "logstash"),)}


async def test_configured_mapping(make_api, settings):
    api = await make_api(
        dataclasses.replace(
            settings,
            es_compat_timestamp_field="time",
            es_compat_message_fields="text",
            es_compat_order_field="seq_no",
            es_compat_label_fields="app,kubernetes.namespace,host.name",
            es_compat_index_label="",
        )
    )
    now = ts(-1)
    docs = [
        {
            "time": now,
            "text": f"t{n}",
            "seq_no": n,
            "app": "web",
            "host.name": "h",
            "kubernetes": {"namespace": "prod", "pod": "p1"},
            "message": "kept",
        }
        for n in (2, 0, "1")
    ]
    answer = await bulk(api, *[row for doc in docs for row in ({"index": {"_index": "k8s-2024.05.01"}}, doc)])
    assert statuses(answer) == [201] * 3
    lines = await read_back(api, app="web")
    assert [line["message"] for line in lines] == ["t0", "t1", "t2"]
    assert [line["order_num"] for line in lines] == [0, 1, 2]
    assert lines[0]["labels"] == {"app": "web", "kubernetes.namespace": "prod", "host.name": "h"}
    assert lines[0]["fields"] == {"kubernetes": {"pod": "p1"}, "message": "kept"}


async def test_bad_order_and_label_values_are_item_errors(make_api, settings):
    api = await make_api(dataclasses.replace(settings, es_compat_order_field="n", es_compat_label_fields="app"))
    answer = await bulk(
        api,
        {"create": {"_index": "b"}},
        {"message": "m", "n": -1},
        {"create": {"_index": "b"}},
        {"message": "m", "app": {"name": "x"}},
    )
    assert statuses(answer) == [400, 400]
    assert [i["create"]["error"]["type"] for i in answer.body["items"]] == ["invalid_order_num", "invalid_labels"]


async def test_prefix_is_configurable_or_off(make_api, settings):
    moved = await make_api(dataclasses.replace(settings, es_compat_prefix="/elastic"))
    assert (await call(moved, "GET", "/", prefix="/elastic")).status == 200
    assert (await call(moved, "GET", "/", prefix="/es")).status == 404
    root = await make_api(dataclasses.replace(settings, es_compat_prefix="/"))
    assert has_product_header(await call(root, "GET", "/", prefix=""))
    answer = await bulk(root, {"create": {"_index": "at-root"}}, {"message": "m"}, path="/_bulk", prefix="")
    assert statuses(answer) == [201]
    assert (await read_back(root, index="at-root"))[0]["message"] == "m"  # the native API still answers
    off = await make_api(dataclasses.replace(settings, es_compat_prefix=""))
    answer = await call(off, "GET", "/_license")
    assert answer.status == 404 and not has_product_header(answer)
