"""IceProd "REST API - Logs" over HTTP against the real Elasticsearch."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from typing import Any

import orjson
import pytest

import logriver.adapters.iceprod_entries as entries_module
from tests.helpers import auth, ts

LOG_ID = re.compile(r"[0-9a-f]{32}")
ICEPROD_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}")
DEFAULT_KEYS = {"log_id", "name", "data", "timestamp", "task_id", "dataset_id"}


def json_body(body: Any) -> io.BytesIO:
    # A stream, not bytes: aiohttp warns (an error under pytest) about large bytes bodies.
    return io.BytesIO(orjson.dumps(body))


async def call(
    api, method: str, path: str, body: Any = None, token: str | None = "admin-acme", expect: int = 200, **params: Any
) -> Any:
    headers = auth(token) if token is not None else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    data = json_body(body) if body is not None else None
    response = await api.http.request(method, path, data=data, headers=headers, params=params)
    assert response.status == expect, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def create(api, body: dict[str, Any], path: str = "/logs", token: str = "admin-acme") -> str:
    result = await call(api, "POST", path, body, token=token, expect=201)
    assert set(result) == {"result"} and LOG_ID.fullmatch(result["result"])
    return result["result"]


async def native_lines(api, log_id: str) -> list[dict[str, Any]]:
    page = await api.get_lines(labels__iceprod_log_id=log_id, limit=10000)
    return page["lines"]


# --- creating and reading one entry ---------------------------------------------------------


async def test_post_then_get_returns_every_field_as_given(api):
    body = {"data": "hello", "task_id": "t1", "extra": {"nested": [1, 2.5, None, True]}, "n": 7, "none": None}
    log_id = await create(api, body)
    entry = await call(api, "GET", f"/logs/{log_id}")
    assert ICEPROD_TIME.fullmatch(entry.pop("timestamp"))
    assert entry == {**body, "log_id": log_id, "name": "log"}


async def test_server_sets_log_id_and_timestamp_over_the_body(api):
    log_id = await create(api, {"data": "x", "log_id": "mine", "timestamp": "yesterday", "name": "stdout"})
    entry = await call(api, "GET", f"/logs/{log_id}")
    assert entry["log_id"] == log_id and entry["timestamp"] != "yesterday" and entry["name"] == "stdout"


async def test_dataset_post_forces_dataset_id_and_sets_no_default_name(api):
    log_id = await create(api, {"data": "x", "dataset_id": "other", "task_id": "t"}, path="/datasets/d1/logs")
    entry = await call(api, "GET", f"/datasets/d1/logs/{log_id}")
    assert entry["dataset_id"] == "d1" and "name" not in entry
    await call(api, "GET", f"/datasets/other/logs/{log_id}", expect=404)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "one line",
        "trailing newline\n",
        "\n",
        "\n\n\n",
        "windows\r\nline endings\r\n",
        "lone\rcarriage return",
        "unicode: héllo wörld\n世界 🙂\n",
        'controls \x00 \x1b[31m red \t tab \\ backslash " quote',
    ],
)
async def test_data_reads_back_byte_for_byte(api, data):
    log_id = await create(api, {"data": data})
    assert (await call(api, "GET", f"/logs/{log_id}"))["data"] == data


async def test_data_is_searchable_line_by_line(api):
    log_id = await create(api, {"data": "alpha one\r\nbeta two\n\ngamma", "dataset_id": "d1"})
    lines = await native_lines(api, log_id)
    assert [line["message"] for line in lines] == ["alpha one\r", "beta two", "", "gamma"]
    assert [line["order_num"] for line in lines] == [0, 1, 2, 3]
    assert len({line["@timestamp"] for line in lines}) == 1
    assert lines[0]["labels"] == {"api": "iceprod", "iceprod_log_id": log_id, "dataset_id": "d1", "name": "log"}
    found = await api.get_lines(labels__api="iceprod", q="beta")
    assert [line["message"] for line in found["lines"]] == ["beta two"]


async def test_long_lines_are_split_and_joined_exactly(make_api, settings):
    api = await make_api(replace(settings, max_message_bytes=16))
    data = "short\n" + "x" * 40 + "\n" + "é🙂" * 20 + "\n" + "y" * 16 + "\nend"
    log_id = await create(api, {"data": data})
    assert (await call(api, "GET", f"/logs/{log_id}"))["data"] == data
    lines = await native_lines(api, log_id)
    assert all(len(line["message"].encode()) <= 16 for line in lines)
    assert len(lines) > data.count("\n") + 1
    assert "".join(line["message"] for line in lines) == data.replace("\n", "")


# A line near the 1 MiB message limit makes a bulk body past 1 MiB, on which the Elasticsearch
# client's aiohttp transport emits a ResourceWarning (ignored outside -W error).
@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
async def test_multi_megabyte_data_with_a_line_longer_than_the_message_limit(api):
    many_lines = "".join(f"line {i:07d} of a long stdout file\n" for i in range(30_000))
    data = many_lines + "z" * (2 * 1024 * 1024 + 123) + "\nlast line without newline"
    log_id = await create(api, {"data": data, "dataset_id": "big"})
    entry = await call(api, "GET", f"/logs/{log_id}")
    assert entry["data"] == data
    listed = await call(api, "GET", "/logs", dataset_id="big")
    assert listed[log_id]["data"] == data


async def test_reading_across_storage_batches(api, monkeypatch):
    monkeypatch.setattr(entries_module, "DATA_BATCH", 2)
    monkeypatch.setattr(entries_module, "HEAD_BATCH", 2)
    data = "\n".join(f"line {i}" for i in range(7)) + "\n"
    ids = [await create(api, {"data": data, "name": str(i)}) for i in range(5)]
    assert (await call(api, "GET", f"/logs/{ids[0]}"))["data"] == data
    listed = await call(api, "GET", "/logs")
    assert list(listed) == ids and all(entry["data"] == data for entry in listed.values())


# --- create errors ----------------------------------------------------------------------------


async def test_missing_data_is_400(api):
    body = await call(api, "POST", "/logs", {"name": "x"}, expect=400)
    assert body == {"code": 400, "error": "data field not in body"}
    body = await call(api, "POST", "/datasets/d1/logs", {"task_id": "t"}, token="rw-acme", expect=400)
    assert body == {"code": 400, "error": "data field not in body"}


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null", b"", b"{not json", b"\xff\xfe"])
async def test_a_body_that_is_not_a_json_object_is_400(api, raw):
    response = await api.http.post("/logs", data=raw, headers={**auth(), "Content-Type": "application/json"})
    assert response.status == 400
    body = await response.json()
    assert body["code"] == 400 and body["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"data": 5},
        {"data": None},
        {"data": "x", "name": 3},
        {"data": "x", "task_id": ["t"]},
        {"data": "x", "dataset_id": "d" * 2000},
    ],
)
async def test_fields_that_cannot_be_stored_are_400(api, body):
    result = await call(api, "POST", "/logs", body, expect=400)
    assert result["code"] == 400


async def test_a_body_over_the_request_limit_is_413(make_api, settings):
    api = await make_api(replace(settings, max_request_bytes=1000))
    result = await call(api, "POST", "/logs", {"data": "x" * 2000}, expect=413)
    assert result["code"] == 413


# --- GET /logs ----------------------------------------------------------------------------------


async def make_entries(api) -> list[str]:
    """Three entries in this order, with distinct names, datasets and tasks."""
    return [
        await create(api, {"data": "first", "name": "stdout", "dataset_id": "d1", "task_id": "t1", "other": 1}),
        await create(api, {"data": "second", "name": "stderr", "dataset_id": "d1", "task_id": "t2", "other": 2}),
        await create(api, {"data": "third", "name": "stdout", "dataset_id": "d2", "task_id": "t1", "other": 3}),
    ]


async def test_list_returns_default_keys_in_timestamp_order(api):
    ids = await make_entries(api)
    listed = await call(api, "GET", "/logs")
    assert list(listed) == ids
    assert all(set(entry) == DEFAULT_KEYS for entry in listed.values())
    assert [entry["data"] for entry in listed.values()] == ["first", "second", "third"]
    timestamps = [entry["timestamp"] for entry in listed.values()]
    assert timestamps == sorted(timestamps)


async def test_list_filters_are_exact(api):
    first, second, third = await make_entries(api)
    assert list(await call(api, "GET", "/logs", name="stdout")) == [first, third]
    assert list(await call(api, "GET", "/logs", dataset_id="d1")) == [first, second]
    assert list(await call(api, "GET", "/logs", task_id="t1", dataset_id="d2")) == [third]
    assert await call(api, "GET", "/logs", name="std") == {}


async def test_list_keys_and_limit(api):
    first, second, _ = await make_entries(api)
    listed = await call(api, "GET", "/logs", keys="other|name", limit="2")
    assert listed == {
        first: {"log_id": first, "name": "stdout", "other": 1},
        second: {"log_id": second, "name": "stderr", "other": 2},
    }
    only_ids = await call(api, "GET", "/logs", keys="log_id", limit=1)
    assert only_ids == {first: {"log_id": first}}


@pytest.mark.parametrize("limit", ["x", "1.5", "-1"])
async def test_list_limit_must_be_an_integer(api, limit):
    result = await call(api, "GET", "/logs", limit=limit, expect=400)
    assert result == {"code": 400, "error": "bad limit param. must be int"}


async def test_list_params_may_come_in_a_json_body(api):
    first, _second, third = await make_entries(api)
    listed = await call(api, "GET", "/logs", {"dataset_id": "d1", "keys": "data", "limit": 1})
    assert listed == {first: {"log_id": first, "data": "first"}}
    assert list(await call(api, "GET", "/logs", {"name": "stdout"})) == [first, third]
    result = await call(api, "GET", "/logs", {"limit": "many"}, expect=400)
    assert result["error"] == "bad limit param. must be int"
    await call(api, "GET", "/logs", [1], expect=400)


async def test_list_window_is_inclusive_in_every_time_format(api):
    first, second, third = await make_entries(api)
    stamps = [(await call(api, "GET", f"/logs/{i}"))["timestamp"] for i in (first, second, third)]
    assert list(await call(api, "GET", "/logs", **{"from": stamps[1], "to": stamps[1]})) == [second]
    assert list(await call(api, "GET", "/logs", **{"from": stamps[1]})) == [second, third]
    assert list(await call(api, "GET", "/logs", to=stamps[1] + "Z")) == [first, second]
    assert list(await call(api, "GET", "/logs", {"from": stamps[2].replace("T", " ")})) == [third]
    day = stamps[0][:10]
    assert list(await call(api, "GET", "/logs", **{"from": day})) == [first, second, third]
    assert await call(api, "GET", "/logs", to=day) == {}  # a date alone is its midnight


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-01-01T25:00:00"])
async def test_list_bad_time_is_400(api, value):
    result = await call(api, "GET", "/logs", **{"from": value}, expect=400)
    assert result["code"] == 400 and result["error"].startswith("bad from param")


# --- single entries and deletion ----------------------------------------------------------------


async def test_get_unknown_entry_is_404(api):
    assert await call(api, "GET", "/logs/" + "0" * 32, expect=404) == {"code": 404, "error": "Log not found"}
    assert await call(api, "GET", "/datasets/d1/logs/nope", token="read-acme", expect=404) == {
        "code": 404,
        "error": "Log not found",
    }


async def test_delete_entry_then_it_is_gone_and_deleting_again_is_fine(api):
    keep, gone = await create(api, {"data": "keep"}), await create(api, {"data": "a\nb"})
    assert await call(api, "DELETE", f"/logs/{gone}") == {}
    await call(api, "GET", f"/logs/{gone}", expect=404)
    assert await native_lines(api, gone) == []
    assert await call(api, "DELETE", f"/logs/{gone}") == {}
    assert list(await call(api, "GET", "/logs")) == [keep]


async def test_dataset_entry_of_another_dataset_is_404(api):
    log_id = await create(api, {"data": "x"}, path="/datasets/d1/logs", token="write-acme")
    assert (await call(api, "GET", f"/datasets/d1/logs/{log_id}", token="read-acme"))["data"] == "x"
    result = await call(api, "GET", f"/datasets/d2/logs/{log_id}", token="read-acme", expect=404)
    assert result == {"code": 404, "error": "Log not found"}


# --- task logs ------------------------------------------------------------------------------------


async def make_task_entries(api) -> list[str]:
    names = ["stdout", "stderr", "stdout", "stdlog"]
    ids = [
        await create(api, {"data": f"d{i}", "name": name, "task_id": "t1"}, path="/datasets/d1/logs")
        for i, name in enumerate(names)
    ]
    await create(api, {"data": "other task", "name": "stdout", "task_id": "t2"}, path="/datasets/d1/logs")
    return ids


async def test_task_logs_order_num_group_and_keys(api):
    ids = await make_task_entries(api)
    path = "/datasets/d1/tasks/t1/logs"
    logs = (await call(api, "GET", path, token="read-acme"))["logs"]
    assert [log["log_id"] for log in logs] == ids[::-1]  # newest first by default
    assert set(logs[0]) == {"log_id", "timestamp", "data", "name", "task_id", "dataset_id"}
    ascending = (await call(api, "GET", path, order="asc", num=2))["logs"]
    assert [log["log_id"] for log in ascending] == ids[:2]
    grouped = (await call(api, "GET", path, group="TRUE"))["logs"]
    expected = [("stdlog", ids[3]), ("stdout", ids[2]), ("stderr", ids[1])]  # the newest of each name
    assert [(log["name"], log["log_id"]) for log in grouped] == expected
    grouped_asc = (await call(api, "GET", path, group="true", order="asc", num=1, keys="name|log_id"))["logs"]
    assert grouped_asc == [{"log_id": ids[0], "name": "stdout"}]
    for everything in ("0", ""):
        assert len((await call(api, "GET", path, num=everything))["logs"]) == 4
    assert len((await call(api, "GET", path, group="false"))["logs"]) == 4


async def test_task_logs_parameter_errors(api):
    await make_task_entries(api)
    path = "/datasets/d1/tasks/t1/logs"
    assert await call(api, "GET", path, num="two", expect=400) == {"code": 400, "error": "bad num param. must be int"}
    assert await call(api, "GET", path, order="up", expect=400) == {
        "code": 400,
        "error": 'bad order param. should be "asc" or "desc".',
    }


async def test_task_logs_none_is_404(api):
    result = await call(api, "GET", "/datasets/d1/tasks/t9/logs", expect=404)
    assert result == {"code": 404, "error": "Log not found"}


async def test_delete_task_logs_leaves_other_tasks(api):
    await make_task_entries(api)
    assert await call(api, "DELETE", "/datasets/d1/tasks/t1/logs", token="write-acme") == {}
    await call(api, "GET", "/datasets/d1/tasks/t1/logs", expect=404)
    assert len((await call(api, "GET", "/datasets/d1/tasks/t2/logs"))["logs"]) == 1
    assert await call(api, "DELETE", "/datasets/d1/tasks/t1/logs", token="write-acme") == {}


# --- dataset deletion with streamed progress -------------------------------------------------------


async def test_delete_dataset_streams_progress_and_spares_other_datasets(api):
    big = "\n".join(f"line {i}" for i in range(1200))  # more than one deletion batch of 1000
    await create(api, {"data": big, "task_id": "t1"}, path="/datasets/d1/logs")
    await create(api, {"data": "small"}, path="/datasets/d1/logs")
    survivor = await create(api, {"data": "other dataset"}, path="/datasets/d2/logs")
    await api.post_lines({"labels": {"dataset_id": "d1"}, "lines": [{"@timestamp": ts(), "message": "native"}]})
    response = await api.http.delete("/datasets/d1/logs", headers=auth("write-acme"))
    assert response.status == 200 and response.headers["Transfer-Encoding"] == "chunked"
    docs = [orjson.loads(line) for line in (await response.read()).splitlines()]
    assert docs[-1] == {"status": "complete", "percent_complete": 100.0}
    deleting = docs[:-1]
    assert len(deleting) >= 3 and all(set(d) == {"status", "percent_complete", "total"} for d in deleting)
    assert all(d["status"] == "deleting" and d["total"] == 2 for d in deleting)
    percents = [d["percent_complete"] for d in deleting]
    assert percents == sorted(percents) and percents[0] == 0.0 and all(isinstance(p, float) for p in percents)
    assert list(await call(api, "GET", "/logs")) == [survivor]
    native = await api.get_lines(labels__dataset_id="d1")
    assert [line["message"] for line in native["lines"]] == ["native"]  # not an IceProd entry


async def test_delete_empty_dataset_completes(api):
    response = await api.http.delete("/datasets/none/logs", headers=auth("write-acme"))
    docs = [orjson.loads(line) for line in (await response.read()).splitlines()]
    assert response.status == 200
    assert docs == [
        {"status": "deleting", "percent_complete": 100.0, "total": 0},
        {"status": "complete", "percent_complete": 100.0},
    ]


# --- authentication and roles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "token"),
    [
        ("GET", "/logs", None),
        ("GET", "/logs", "no-such-token"),
        ("GET", "/logs", "read-acme"),
        ("POST", "/logs", "rw-acme"),
        ("GET", "/logs/abc", "rw-acme"),
        ("DELETE", "/logs/abc", "write-acme"),
        ("GET", "/datasets/d1/logs/abc", None),
        ("GET", "/datasets/d1/logs/abc", "write-acme"),
        ("GET", "/datasets/d1/tasks/t1/logs", "write-acme"),
        ("POST", "/datasets/d1/logs", "read-acme"),
        ("DELETE", "/datasets/d1/logs", "read-acme"),
        ("DELETE", "/datasets/d1/tasks/t1/logs", "read-acme"),
        ("DELETE", "/datasets/d1/tasks/t1/logs", None),
    ],
)
async def test_every_auth_failure_is_403(api, method, path, token):
    body = {"data": "x"} if method == "POST" else None
    result = await call(api, method, path, body, token=token, expect=403)
    assert result["code"] == 403 and result["error"]


async def test_entries_are_confined_to_the_tokens_tenant(api):
    log_id = await create(api, {"data": "secret", "dataset_id": "d1", "task_id": "t1"})
    await call(api, "GET", f"/logs/{log_id}", token="admin-other", expect=404)
    assert await call(api, "GET", "/logs", token="admin-other") == {}
    await call(api, "GET", "/datasets/d1/tasks/t1/logs", token="admin-other", expect=404)
    assert await call(api, "DELETE", f"/logs/{log_id}", token="admin-other") == {}
    assert (await call(api, "GET", f"/logs/{log_id}"))["data"] == "secret"


# --- the label convention: entries written through the native API ------------------------------------


async def test_an_entry_written_through_the_native_api_is_served(api):
    log_id, at = "0123456789abcdef0123456789abcdef", ts()
    labels = {"api": "iceprod", "iceprod_log_id": log_id, "dataset_id": "d1", "task_id": "t1", "name": "stdout"}
    head_fields = {
        "iceprod_entry": "head",
        "iceprod_body": '{"name":"stdout","dataset_id":"d1","task_id":"t1"}',
        "iceprod_pieces": 3,
    }
    await api.post_lines(
        {
            "labels": labels,
            "lines": [
                {"@timestamp": at, "order_num": 0, "message": "start", "fields": head_fields},
                {"@timestamp": at, "order_num": 1, "message": "work"},
                {"@timestamp": at, "order_num": 2, "message": "done"},
            ],
        }
    )
    logs = (await call(api, "GET", "/datasets/d1/tasks/t1/logs", token="read-acme"))["logs"]
    assert len(logs) == 1 and logs[0]["log_id"] == log_id and logs[0]["data"] == "start\nwork\ndone"
    assert ICEPROD_TIME.fullmatch(logs[0]["timestamp"]) and logs[0]["name"] == "stdout"


async def test_task_logs_keys_are_exactly_the_named_keys(api):
    await make_task_entries(api)
    logs = (await call(api, "GET", "/datasets/d1/tasks/t1/logs", order="asc", keys="name"))["logs"]
    assert logs == [{"name": name} for name in ("stdout", "stderr", "stdout", "stdlog")]
    listed = await call(api, "GET", "/logs", keys="name", dataset_id="d1")
    assert len(listed) == 5, listed  # the four of task t1 and the one of t2
    assert all(set(entry) == {"log_id", "name"} for entry in listed.values())  # only GET /logs adds log_id


HEAD_LABELS = {"api": "iceprod", "iceprod_log_id": "forged"}


@pytest.mark.parametrize(
    "fields",
    [
        {"iceprod_entry": "head"},
        {"iceprod_entry": "head", "iceprod_body": "null", "iceprod_pieces": 1},
        {"iceprod_entry": "head", "iceprod_body": "{}", "iceprod_pieces": "abc"},
        {"iceprod_entry": "head", "iceprod_body": "[1]", "iceprod_pieces": 1},
        {"iceprod_entry": "head", "iceprod_body": "{not json", "iceprod_pieces": 1},
        {"iceprod_entry": "head", "iceprod_body": '{"log_id": "x", "data": 1}', "iceprod_pieces": 0},
    ],
)
async def test_malformed_stored_entries_are_not_served(api, fields):
    """Lines written natively with IceProd's labels shape an entry any way they like: never a 500."""
    good = await create(api, {"data": "fine", "name": "n"})
    await api.post_lines([{"@timestamp": ts(), "message": "m", "labels": HEAD_LABELS, "fields": fields}])
    assert (await call(api, "GET", "/logs/forged", expect=404))["code"] == 404
    listed = await call(api, "GET", "/logs")
    assert list(listed) == [good]


async def test_stored_entry_keys_cannot_override_the_entry_s_own(api):
    fields = {"iceprod_entry": "head", "iceprod_body": '{"log_id": "x", "data": 1, "name": "n"}', "iceprod_pieces": 1}
    await api.post_lines([{"@timestamp": ts(), "message": "m", "labels": HEAD_LABELS, "fields": fields}])
    entry = await call(api, "GET", "/logs/forged")
    assert entry["log_id"] == "forged" and entry["data"] == "m" and entry["name"] == "n"


# --- deletion refuses what it does not know, and says when storage refused ----------------------------


@pytest.mark.parametrize("path", ["/logs/abc", "/datasets/d1/logs", "/datasets/d1/tasks/t1/logs"])
async def test_delete_refuses_unknown_parameters_by_name(api, path):
    log_id = await create(api, {"data": "stays", "task_id": "t1"}, path="/datasets/d1/logs")
    result = await call(api, "DELETE", path.replace("abc", log_id), expect=400, force="1", older_than="1d")
    assert result["code"] == 400 and "force, older_than" in result["error"], result
    assert (await call(api, "GET", f"/logs/{log_id}"))["data"] == "stays"


async def _block_lines(es, index_prefix: str, blocked: bool) -> None:
    # The flood-stage block: Elasticsearch answers each document delete in these indices with 429.
    value = True if blocked else None
    await es.indices.put_settings(
        index=f"{index_prefix}-lines-*", settings={"index.blocks.read_only_allow_delete": value}
    )


async def test_a_refused_delete_is_an_error_not_a_success(api, es, index_prefix):
    log_id = await create(api, {"data": "a\nb", "task_id": "t1"}, path="/datasets/d1/logs")
    await _block_lines(es, index_prefix, True)
    try:
        one = await call(api, "DELETE", f"/logs/{log_id}", expect=503)
        task = await call(api, "DELETE", "/datasets/d1/tasks/t1/logs", token="write-acme", expect=503)
        response = await api.http.delete("/datasets/d1/logs", headers=auth("write-acme"))
        docs = [orjson.loads(line) for line in (await response.read()).splitlines()]
    finally:
        await _block_lines(es, index_prefix, False)
    for answer in (one, task):
        assert answer["code"] == 503 and "429 cluster_block_exception" in answer["error"], answer
    assert docs[-1]["status"] == "failed" and docs[-1]["code"] == 503, docs
    assert docs[-1]["percent_complete"] == 0.0 and docs[-1]["total"] == 1
    assert (await call(api, "GET", f"/logs/{log_id}"))["data"] == "a\nb"
