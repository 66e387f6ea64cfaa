"""POST /api/v1/lines against the real Elasticsearch: bodies, validation, limits, identity."""

from __future__ import annotations

import dataclasses
import gzip
import time

import orjson
import pytest

from tests.helpers import auth, ts


async def read_all(api, **params):
    page = await api.get_lines(limit=10000, **params)
    return page["lines"]


async def test_json_array_body_with_per_line_labels(api):
    lines = [
        {"@timestamp": ts(-2), "message": "a", "labels": {"app": "x"}},
        {"@timestamp": ts(-1), "message": "b", "labels": {"app": "x"}},
    ]
    assert await api.post_lines(lines) == {"accepted": 2, "rejected": []}
    assert [line["message"] for line in await read_all(api, labels__app="x")] == ["a", "b"]


async def test_ndjson_body(api):
    body = b"\n".join(orjson.dumps({"@timestamp": ts(-i), "message": f"m{i}", "labels": {"k": "v"}}) for i in (3, 2, 1))
    response = await api.http.post(
        "/api/v1/lines?refresh=wait_for", data=body, headers={**auth(), "Content-Type": "application/x-ndjson"}
    )
    assert response.status == 200
    assert (await response.json())["accepted"] == 3
    assert [line["message"] for line in await read_all(api, labels__k="v")] == ["m3", "m2", "m1"]


async def test_ndjson_bad_line_is_rejected_alone(api):
    body = b'{"@timestamp": "%s", "message": "ok", "labels": {"k": "nd"}}\n{not json}\n' % ts().encode()
    response = await api.http.post(
        "/api/v1/lines?refresh=wait_for", data=body, headers={**auth(), "Content-Type": "application/x-ndjson"}
    )
    result = await response.json()
    assert result["accepted"] == 1
    assert result["rejected"][0]["index"] == 1 and result["rejected"][0]["type"] == "invalid_json"


async def test_gzip_body(api):
    body = gzip.compress(orjson.dumps({"labels": {"z": "1"}, "lines": [{"@timestamp": ts(), "message": "zipped"}]}))
    response = await api.http.post(
        "/api/v1/lines?refresh=wait_for",
        data=body,
        headers={**auth(), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (await response.json())["accepted"] == 1
    assert (await read_all(api, labels__z="1"))[0]["message"] == "zipped"


async def test_epoch_ms_and_nanosecond_precision_round_trip(api):
    now_ms = time.time_ns() // 1_000_000
    precise = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 5)) + ".123456789Z"
    await api.post_lines(
        {
            "labels": {"p": "1"},
            "lines": [
                {"@timestamp": now_ms, "message": "ms"},
                {"@timestamp": precise, "message": "ns"},
            ],
        }
    )
    lines = await read_all(api, labels__p="1")
    assert lines[0]["@timestamp"] == precise
    assert lines[1]["@timestamp"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_ms / 1000)))


async def test_valid_lines_stored_when_others_rejected(api):
    lines = [
        {"@timestamp": ts(), "message": "good", "labels": {"v": "1"}},
        {"message": "no timestamp", "labels": {"v": "1"}},
        {"@timestamp": "yesterday", "message": "bad ts", "labels": {"v": "1"}},
        {"@timestamp": ts(), "labels": {"v": "1"}},
        {"@timestamp": ts(), "message": "x", "labels": {"v": 1}},
        {"@timestamp": ts(), "message": "x", "order_num": -1, "labels": {"v": "1"}},
        {"@timestamp": ts(), "message": "x", "color": "red", "labels": {"v": "1"}},
        "not an object",
    ]
    result = await api.post_lines(lines)
    assert result["accepted"] == 1
    types = {r["index"]: r["type"] for r in result["rejected"]}
    assert types == {
        1: "missing_field",
        2: "invalid_timestamp",
        3: "missing_field",
        4: "invalid_labels",
        5: "invalid_order_num",
        6: "unknown_field",
        7: "invalid_line",
    }
    assert all(r["message"] for r in result["rejected"])
    assert "color" in result["rejected"][5]["message"]
    assert [line["message"] for line in await read_all(api, labels__v="1")] == ["good"]


async def test_time_window_rejections_state_the_window(api):
    old = "2001-01-01T00:00:00Z"
    future = ts(3 * 3600)
    result = await api.post_lines([{"@timestamp": old, "message": "o"}, {"@timestamp": future, "message": "f"}])
    assert result["accepted"] == 0
    too_old, too_new = result["rejected"]
    assert too_old["type"] == "too_old" and "accepted lines are from" in too_old["message"]
    assert too_new["type"] == "too_new" and "LOGRIVER_MAX_FUTURE_SECONDS" in too_new["message"]


async def test_limits_are_settings_and_named(make_api, settings):
    api = await make_api(
        dataclasses.replace(
            settings, max_message_bytes=10, max_labels=2, max_label_value_length=5, max_request_bytes=2000
        )
    )
    result = await api.post_lines(
        [
            {"@timestamp": ts(), "message": "x" * 11},
            {"@timestamp": ts(), "message": "ok", "labels": {"a": "1", "b": "2", "c": "3"}},
            {"@timestamp": ts(), "message": "ok", "labels": {"a": "123456"}},
            {"@timestamp": ts(), "message": "ok", "labels": {"a": "1"}},
        ]
    )
    assert [r["type"] for r in result["rejected"]] == ["message_too_long", "too_many_labels", "label_value_too_long"]
    assert "LOGRIVER_MAX_MESSAGE_BYTES" in result["rejected"][0]["message"]
    big = [{"@timestamp": ts(), "message": "y" * 9} for _ in range(200)]
    response = await api.http.post("/api/v1/lines", json=big, headers=auth())
    assert response.status == 413
    error = (await response.json())["error"]
    assert error["type"] == "request_too_large" and error["details"]["limit"] == "max_request_bytes"
    bomb = gzip.compress(orjson.dumps(big))
    response = await api.http.post(
        "/api/v1/lines", data=bomb, headers={**auth(), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    assert response.status == 413


@pytest.mark.parametrize(
    "body,kind", [(b"{nope", "invalid_json"), (b'"a string"', "invalid_body"), (b'{"lines": 3}', "validation_error")]
)
async def test_unparseable_bodies_are_400(api, body, kind):
    response = await api.http.post("/api/v1/lines", data=body, headers={**auth(), "Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"]["type"] == kind


async def test_retrying_identical_request_never_duplicates(api):
    body = {"labels": {"r": "1"}, "lines": [{"@timestamp": ts(), "message": "same"}] * 3}
    first = await api.post_lines(body)
    second = await api.post_lines(body)
    assert first["accepted"] == second["accepted"] == 3
    lines = await read_all(api, labels__r="1")
    assert len(lines) == 3, "byte-identical lines in one request are distinct lines"
    assert len({line["id"] for line in lines}) == 3


async def test_client_id_and_order_num_identity_survive_rebatching(api):
    t = ts()
    a = {"@timestamp": t, "message": "with id", "id": "client-1"}
    b = {"@timestamp": t, "message": "with order", "order_num": 7}
    c = {"@timestamp": t, "message": "plain"}
    await api.post_lines({"labels": {"i": "1"}, "lines": [a, b, c]})
    await api.post_lines({"labels": {"i": "1"}, "lines": [b]})
    await api.post_lines({"labels": {"i": "1"}, "lines": [c, a]})
    messages = sorted(line["message"] for line in await read_all(api, labels__i="1"))
    assert messages == ["plain", "plain", "with id", "with order"]


async def test_equal_timestamps_keep_order_num_then_arrival(api):
    t = ts()
    await api.post_lines(
        {
            "labels": {"o": "1"},
            "lines": [
                {"@timestamp": t, "message": "third", "order_num": 3},
                {"@timestamp": t, "message": "first", "order_num": 1},
                {"@timestamp": t, "message": "second", "order_num": 2},
            ],
        }
    )
    await api.post_lines(
        {"labels": {"o": "2"}, "lines": [{"@timestamp": t, "message": f"arrival {i}"} for i in range(20)]}
    )
    assert [line["message"] for line in await read_all(api, labels__o="1")] == ["first", "second", "third"]
    assert [line["message"] for line in await read_all(api, labels__o="2")] == [f"arrival {i}" for i in range(20)]


async def test_late_lines_land_in_the_index_of_their_time(api, es, index_prefix):
    yesterday = ts(-86400)
    await api.post_lines(
        {
            "labels": {"late": "1"},
            "lines": [{"@timestamp": ts(), "message": "now"}, {"@timestamp": yesterday, "message": "late"}],
        }
    )
    indices = sorted((await es.indices.get(index=f"{index_prefix}-lines-*")).keys())
    assert len(indices) == 2
    day = time.strftime("%Y.%m.%d", time.gmtime(time.time() - 86400))
    assert indices[0].endswith(day)
    assert [line["message"] for line in await read_all(api, labels__late="1")] == ["late", "now"]


async def test_refresh_wait_for_gives_read_your_writes(api):
    for i in range(5):
        await api.post_lines({"labels": {"ryw": "1"}, "lines": [{"@timestamp": ts(), "message": str(i)}]})
        assert len(await read_all(api, labels__ryw="1")) == i + 1


async def test_auth_roles_and_tenants(api):
    line = {"labels": {"t": "1"}, "lines": [{"@timestamp": ts(), "message": "secret"}]}
    assert (await api.http.post("/api/v1/lines", json=line)).status == 401
    bad = await api.http.post("/api/v1/lines", json=line, headers=auth("nope"))
    assert bad.status == 401
    forbidden = await api.http.post("/api/v1/lines", json=line, headers=auth("read-acme"))
    assert forbidden.status == 403
    assert (await forbidden.json())["error"]["type"] == "forbidden"
    await api.post_lines(line, token="write-acme")
    x_auth = await api.http.get("/api/v1/lines", params={"labels.t": "1"}, headers={"X-Auth-Token": "read-acme"})
    assert len((await x_auth.json())["lines"]) == 1
    assert (await api.get_lines(token="admin-other", labels__t="1"))["lines"] == []
    assert (await api.http.get("/api/v1/lines", headers=auth("write-acme"))).status == 403


async def test_unstorable_dates_are_invalid_even_without_retention(make_api, settings):
    import dataclasses

    api = await make_api(dataclasses.replace(settings, retention_days=0))
    result = await api.post_lines([{"@timestamp": "1960-01-01T00:00:00Z", "message": "too early"}])
    assert result["rejected"][0]["type"] == "invalid_timestamp"


async def test_large_request_split_into_several_bulk_calls_is_read_your_writes(api):
    base = time.time_ns() - 10 * 1_000_000_000
    lines = [{"@timestamp": ts(-i / 1000, base), "message": f"{i:06d} " + "x" * 1000} for i in range(3000)]
    result = await api.post_lines({"labels": {"big": "1"}, "lines": lines})
    assert result == {"accepted": 3000, "rejected": []}
    page = await api.get_lines(labels__big="1", limit=10000)
    assert len(page["lines"]) == 3000
    assert [line["message"][:6] for line in page["lines"]] == [f"{i:06d}" for i in reversed(range(3000))]
