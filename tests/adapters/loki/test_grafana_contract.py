"""Grafana's requests, as its Loki data source sends them (pkg/tsdb/loki/api.go makeDataRequest,
healthcheck.go, streaming.go; the frontend's language provider and log-context provider),
replayed against the real service; each answer is checked against what Grafana's parsers read.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
from time import time_ns
from urllib.parse import urlencode

import pytest
from aiohttp import WSMsgType

from logriver.core.timeutil import NS_PER_MS, NS_PER_SECOND, format_rfc3339_ns
from tests.adapters.loki import dataset
from tests.adapters.loki.grafana_shapes import check_data, check_error, check_strings
from tests.helpers import auth, ts

LOGS_VOLUME = 'sum by (level, detected_level) (count_over_time({app="api"} | drop __error__[1m]))'


@pytest.fixture
async def loaded(make_api):
    api = await make_api()
    base = dataset.base_ns()
    records = dataset.build(base)
    for payload in dataset.payloads(records):
        await api.post_lines(payload)
    return api, base, records


def _range(query: str, start: int, end: int, step_ms: int, direction: str = "backward", limit: int | None = None):
    # The order and names Grafana's backend uses; limit only when the query sets maxLines.
    params = {"query": query, "direction": direction}
    if limit:
        params["limit"] = str(limit)
    params.update({"start": str(start), "end": str(end), "step": f"{step_ms}ms"})
    return params


async def test_save_and_test_health_check(make_api):
    api = await make_api()
    params = {"query": "vector(1)+vector(1)", "direction": "backward", "time": str(4 * NS_PER_SECOND)}
    response = await api.http.get("/loki/api/v1/query", params=params, headers=auth("read-acme"))
    body = await response.json()
    assert response.status == 200 and check_data(body) == "vector"
    # healthcheck.go: one frame of two fields (time, value), one row, and the value 2.
    [sample] = body["data"]["result"]
    assert sample["metric"] == {} and float(sample["value"][1]) == 2.0


async def test_basic_auth_with_the_token_as_password_and_bearer(loaded):
    api, _base, _ = loaded
    params = {"query": "vector(1)+vector(1)", "time": "4"}
    basic = base64.b64encode(b"grafana:read-acme").decode()
    assert (
        await api.http.get("/loki/api/v1/query", params=params, headers={"Authorization": f"Basic {basic}"})
    ).status == 200
    assert (await api.http.get("/loki/api/v1/query", params=params, headers=auth("read-acme"))).status == 200
    wrong = base64.b64encode(b"grafana:nope").decode()
    response = await api.http.get("/loki/api/v1/query", params=params, headers={"Authorization": f"Basic {wrong}"})
    assert response.status == 401 and check_error(await response.json())
    response = await api.http.get("/loki/api/v1/query", params=params)
    assert response.status == 401 and "Bearer" in check_error(await response.json())


async def test_label_browser(loaded):
    api, base, records = loaded
    window = {"start": str(base - 60 * NS_PER_SECOND), "end": str(base + 600 * NS_PER_SECOND)}
    names = check_strings(await api.get("/loki/api/v1/labels", **window))
    assert names == ["app", "env", "level"]
    apps = check_strings(await api.get("/loki/api/v1/label/app/values", **window))
    assert apps == sorted({r.labels["app"] for r in records})
    filtered = check_strings(await api.get("/loki/api/v1/label/level/values", query='{app="api"}', **window))
    assert filtered == ["error", "info"]
    response = await api.http.get(
        "/loki/api/v1/series", params=[("match[]", '{app="web"}'), *window.items()], headers=auth()
    )
    series = (await response.json())["data"]
    assert sorted(series, key=str) == sorted(
        [{"app": "web", "env": "preprod", "level": "info"}, {"app": "web", "env": "dev"}], key=str
    )
    # A window before every line: nothing, as Loki answers for streams without data in it.
    early = {"start": str(base - 7200 * NS_PER_SECOND), "end": str(base - 3600 * NS_PER_SECOND)}
    assert check_strings(await api.get("/loki/api/v1/labels", **early)) == []
    stats = await api.get("/loki/api/v1/index/stats", query='{app="api"}', **window)
    api_records = [r for r in records if r.labels["app"] == "api"]
    assert stats == {"streams": 2, "chunks": 0, "entries": len(api_records),
                     "bytes": sum(len(r.text.encode()) for r in api_records)}  # fmt: skip


@pytest.mark.parametrize("direction", ["backward", "forward"])
async def test_explore_logs_query_with_a_limit(loaded, direction):
    api, base, records = loaded
    start, end = base, base + 600 * NS_PER_SECOND
    query = '{app="api"} |= "status"'
    response = await api.http.get(
        "/loki/api/v1/query_range", params=_range(query, start, end, 2000, direction, 7), headers=auth()
    )
    body = await response.json()
    assert check_data(body) == "streams"
    got = sorted(
        ((int(t), line) for s in body["data"]["result"] for t, line in s["values"]), reverse=direction == "backward"
    )
    want = sorted(((r.ts, r.text) for r in records if r.labels["app"] == "api"), reverse=direction == "backward")[:7]
    assert got == want
    for stream in body["data"]["result"]:  # each stream's values in the direction asked
        times = [int(t) for t, _ in stream["values"]]
        assert times == sorted(times, reverse=direction == "backward")


async def test_logs_volume_query(loaded):
    api, base, records = loaded
    start, end = base, base + 300 * NS_PER_SECOND
    headers = {**auth(), "X-Query-Tags": "Source=logvolhist"}
    response = await api.http.get(
        "/loki/api/v1/query_range", params=_range(LOGS_VOLUME, start, end, 60000), headers=headers
    )
    body = await response.json()
    assert check_data(body) == "matrix"
    got = {s["metric"]["level"]: {int(t): float(v) for t, v in s["values"]} for s in body["data"]["result"]}
    for level in ("error", "info"):
        for t_s, value in got[level].items():
            t = t_s * NS_PER_SECOND
            assert value == sum(1 for r in records if r.labels.get("level") == level and r.labels["app"] == "api"
                                and t - 60 * NS_PER_SECOND < r.ts <= t)  # fmt: skip
    assert set(got) == {"error", "info"}


async def test_log_context_queries_around_a_line(loaded):
    api, _base, records = loaded
    stream = sorted(
        (r for r in records if r.labels == {"app": "api", "env": "prod", "level": "info"}), key=lambda r: r.ts
    )
    row = stream[10]
    row_ms = row.ts // NS_PER_MS
    buffer_ms = 2 * 3600 * 1000
    expr = '{app="api",env="prod",level="info"}'
    # LogContextProvider: backward up to the row's time (to: the row), forward from it, limit 10.
    before = await api.get(
        "/loki/api/v1/query_range",
        **_range(expr, (row_ms - buffer_ms) * NS_PER_MS, row_ms * NS_PER_MS, 1000, "backward", 10),
    )
    after = await api.get(
        "/loki/api/v1/query_range",
        **_range(expr, row_ms * NS_PER_MS, (row_ms + buffer_ms) * NS_PER_MS, 1000, "forward", 10),
    )
    assert check_data(before) == check_data(after) == "streams"
    got_before = [line for s in before["data"]["result"] for _, line in s["values"]]
    got_after = [line for s in after["data"]["result"] for _, line in s["values"]]
    assert got_before == [r.text for r in reversed(stream[:10])]
    assert got_after == [r.text for r in stream[10:20]]  # the row itself first: Grafana drops it


async def test_dashboard_metric_query_with_step(loaded):
    api, base, records = loaded
    start, end = base + 30 * NS_PER_SECOND, base + 240 * NS_PER_SECOND
    query = 'sum by (app) (rate({env="prod"} |= "status" [1m]))'
    body = await api.get("/loki/api/v1/query_range", **_range(query, start, end, 15000))
    assert check_data(body) == "matrix"
    for series in body["data"]["result"]:
        app = series["metric"]["app"]
        for t_s, value in series["values"]:
            t = t_s * NS_PER_SECOND
            assert (t - start) % (15 * NS_PER_SECOND) == 0
            count = sum(1 for r in records if r.labels.get("env") == "prod" and r.labels["app"] == app
                        and "status" in r.text and t - 60 * NS_PER_SECOND < r.ts <= t)  # fmt: skip
            assert float(value) == pytest.approx(count / 60)


async def test_post_form_and_every_time_format_give_the_same_answer(loaded):
    api, base, _ = loaded
    query = 'count_over_time({app="db"}[2m])'
    forms = [
        {"start": str(base), "end": str(base + 240 * NS_PER_SECOND)},
        {"start": str(base // NS_PER_SECOND), "end": str(base // NS_PER_SECOND + 240)},
        {"start": f"{base / NS_PER_SECOND:.3f}", "end": f"{base / NS_PER_SECOND + 240:.3f}"},
        {"start": format_rfc3339_ns(base), "end": format_rfc3339_ns(base + 240 * NS_PER_SECOND)},
    ]
    answers = []
    for window in forms:
        for step in ("60", "1m", "60000ms", "60.0"):
            data = {"query": query, "step": step, **window}
            response = await api.http.post("/loki/api/v1/query_range", data=data, headers=auth())
            answers.append(await response.json())
    form = urlencode({"query": query, "step": "60", **forms[0]}).encode()
    headers = {**auth(), "Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}
    response = await api.http.post("/loki/api/v1/query_range", data=gzip.compress(form), headers=headers)
    answers.append(await response.json())  # a compressed form is the same form
    assert check_data(answers[0]) == "matrix" and answers[0]["data"]["result"]
    assert all(answer == answers[0] for answer in answers)


async def test_unsupported_logql_is_a_400_naming_the_part(loaded):
    api, _base, _ = loaded
    for query, part in [
        ('sum_over_time({app="api"} | logfmt | unwrap size [1m])', "sum_over_time"),
        ('{app="api"} | pattern "<ip> <_>"', "pattern"),
        ('{app="api"} | line_format "{{ .status | upper }}"', "line_format"),
        ('{app="api"} | json status="x.y"', "json with extraction"),
        ('count_over_time({app="api"}[1m]) > 2', "'>'"),
    ]:
        response = await api.http.get("/loki/api/v1/query_range", params={"query": query}, headers=auth())
        assert response.status == 400, query
        assert part in check_error(await response.json()), query
    response = await api.http.get("/loki/api/v1/query", params={"query": '{app="api"}'}, headers=auth())
    assert response.status == 400 and "instant" in check_error(await response.json())


async def test_limits_are_clear_400s(loaded, make_api, settings):
    import dataclasses

    api, base, _ = loaded
    response = await api.http.get(
        "/loki/api/v1/query_range", params={"query": '{app="api"}', "limit": "5001"}, headers=auth()
    )
    assert response.status == 400 and "max_entries_limit" in check_error(await response.json())
    long_range = {"query": '{app="api"}', "start": str(base - 800 * 3600 * NS_PER_SECOND), "end": str(base)}
    response = await api.http.get("/loki/api/v1/query_range", params=long_range, headers=auth())
    assert response.status == 400 and "721h" in check_error(await response.json())
    few_series = await make_api(dataclasses.replace(settings, loki_max_series=2))
    window = {"start": str(base), "end": str(base + 600 * NS_PER_SECOND), "step": "60s"}
    response = await few_series.http.get(
        "/loki/api/v1/query_range", params={"query": 'count_over_time({env="prod"}[1m])', **window}, headers=auth()
    )
    assert response.status == 400 and "LOGRIVER_LOKI_MAX_SERIES" in check_error(await response.json())
    few_lines = await make_api(dataclasses.replace(settings, loki_max_scanned_lines=30))
    response = await few_lines.http.get(
        "/loki/api/v1/query_range", params={"query": 'sum(count_over_time({app=~".+"}[1m]))', **window}, headers=auth()
    )
    assert response.status == 400 and "LOGRIVER_LOKI_MAX_SCANNED_LINES" in check_error(await response.json())


async def test_detected_fields_labels_and_buildinfo(loaded):
    api, base, records = loaded
    window = {"start": str(base), "end": str(base + 600 * NS_PER_SECOND)}
    fields = await api.get("/loki/api/v1/detected_fields", query='{app="db"}', **window)
    by_name = {f["label"]: f for f in fields["fields"]}
    assert by_name["status"]["type"] == "int" and by_name["status"]["parsers"] == ["json"]
    assert by_name["user_id"]["cardinality"] == len({r.fields["user_id"] for r in records if r.labels["app"] == "db"})
    values = await api.get("/loki/api/v1/detected_field/method/values", query='{app="db"}', **window)
    assert values["values"] == sorted({r.fields["method"] for r in records if r.labels["app"] == "db"})
    labels = await api.get("/loki/api/v1/detected_labels", query='{app=~".+"}', **window)
    assert {"label": "env", "cardinality": 3} in labels["detectedLabels"]
    info = await api.get("/loki/api/v1/status/buildinfo")
    assert info["version"].startswith("3.")
    volume = await api.get("/loki/api/v1/index/volume", query='{app="db"}', **window)
    assert check_data(volume) == "vector"
    assert float(volume["data"]["result"][0]["value"][1]) == sum(
        len(r.text.encode()) for r in records if r.labels["app"] == "db"
    )


async def test_detected_fields_include_stored_fields(make_api):
    """Fields shipped beside the message (OTLP attributes, `fields`) are offered, under a parser that finds them."""
    api = await make_api()
    lines = [
        {"@timestamp": ts(-2), "message": "payment declined", "fields": {"trace_id": "t-1", "http": {"status": 402}}},
        {"@timestamp": ts(-1), "message": '{"step": "retry"}', "fields": {"trace_id": "t-2"}},
    ]
    await api.post_lines({"labels": {"app": "pay"}, "lines": lines})
    body = await api.get("/loki/api/v1/detected_fields", query='{app="pay"}')
    by_name = {f["label"]: f for f in body["fields"]}
    assert by_name["trace_id"]["cardinality"] == 2 and by_name["trace_id"]["parsers"] == ["json", "logfmt"]
    assert by_name["http_status"]["type"] == "int" and by_name["http_status"]["parsers"] == ["logfmt"]
    assert by_name["step"]["parsers"] == ["json"]
    values = await api.get("/loki/api/v1/detected_field/trace_id/values", query='{app="pay"}')
    assert values["values"] == ["t-1", "t-2"]
    # The query Grafana builds from that answer finds the line.
    found = await api.get(
        "/loki/api/v1/query_range", query='{app="pay"} | logfmt | __error__="" | http_status=402', limit="10"
    )
    assert [line for s in found["data"]["result"] for _, line in s["values"]] == ["payment declined"]


async def test_live_tail_over_a_websocket(make_api):
    api = await make_api()
    # streaming.go first probes v2alpha: anything but 400 makes it use v1.
    assert (await api.http.get("/loki/api/v2alpha/tail", headers=auth())).status == 404
    params = {"query": '{app="live"} != "skip"'}
    async with api.http.ws_connect("/loki/api/v1/tail", params=params, headers=auth("read-acme")) as ws:
        await asyncio.sleep(0.5)  # let the subscription's start position pass
        sent = []
        for batch in range(3):
            lines = [
                {"@timestamp": ts(), "message": f"line {batch}-{i}" if i % 4 else f"skip {batch}-{i}"}
                for i in range(10)
            ]
            await api.post_lines({"labels": {"app": "live"}, "lines": lines})
            await api.post_lines(
                {"labels": {"app": "live"}, "lines": [{"@timestamp": ts(), "message": "x"}]}, token="admin-other"
            )
            sent += [line["message"] for line in lines if not line["message"].startswith("skip")]
        received: list[str] = []
        while len(received) < len(sent):
            message = await ws.receive(timeout=20)
            assert message.type == WSMsgType.TEXT, message
            frame = message.json()
            assert set(frame) == {"streams", "dropped_entries"}
            for stream in frame["streams"]:
                assert stream["stream"] == {"app": "live"}
                received += [line for t, line in stream["values"] if t.isdigit()]
        assert received == sent  # once each, in the order written, nothing of the other tenant


async def test_no_route_reaches_another_tenant(loaded):
    api, base, _ = loaded
    window = {"start": str(base), "end": str(base + 600 * NS_PER_SECOND)}
    other = "admin-other"
    selector = '{app=~".+"}'
    assert (await api.get("/loki/api/v1/labels", token=other, **window))["data"] == []
    assert (await api.get("/loki/api/v1/label/app/values", token=other, **window))["data"] == []
    assert (await api.get("/loki/api/v1/series", token=other, **{"match[]": selector}, **window))["data"] == []
    logs = await api.get("/loki/api/v1/query_range", token=other, query=selector, limit="1000", **window)
    assert logs["data"]["result"] == []
    metric = await api.get("/loki/api/v1/query", token=other, query=f"sum(count_over_time({selector}[1h]))",
                           time=window["end"])  # fmt: skip
    assert metric["data"]["result"] == []
    assert (await api.get("/loki/api/v1/index/stats", token=other, query=selector, **window))["entries"] == 0
    assert (await api.get("/loki/api/v1/detected_fields", token=other, query=selector, **window))["fields"] == []
    assert (await api.get("/loki/api/v1/detected_labels", token=other, query=selector, **window))[
        "detectedLabels"
    ] == []
    volume = await api.get("/loki/api/v1/index/volume", token=other, query=selector, **window)
    assert volume["data"]["result"] == []
    # The tenant is the token's: a Loki tenant header naming another one is refused, not followed.
    headers = {**auth(other), "X-Scope-OrgID": "acme"}
    response = await api.http.get("/loki/api/v1/labels", params=window, headers=headers)
    assert response.status == 403 and "X-Scope-OrgID" in check_error(await response.json())
    # The same calls with the owner's token do see the lines: the empty answers above are isolation.
    assert (await api.get("/loki/api/v1/query_range", query=selector, limit="1000", **window))["data"]["result"]


async def test_line_filters_find_lines_past_the_keyword_limit(make_api):
    """A message longer than the keyword's 2048 characters has no keyword: the prefilter lets it through."""
    api = await make_api()
    long_line = "x" * 3000 + " NeedleInALongLine " + "y" * 100
    lines = [
        {"@timestamp": ts(-i), "message": text} for i, text in enumerate([long_line, "NeedleInALongLine short", "z"])
    ]
    await api.post_lines({"labels": {"app": "long"}, "lines": lines})
    body = await api.get("/loki/api/v1/query_range", query='{app="long"} |= "NeedleInALongLine"', limit="10")
    got = [line for s in body["data"]["result"] for _, line in s["values"]]
    assert sorted(got) == sorted([long_line, "NeedleInALongLine short"])
    body = await api.get("/loki/api/v1/query_range", query='{app="long"} |= "needleinalongline"', limit="10")
    assert body["data"]["result"] == []  # case-sensitive, though storage's prefilter is not


async def test_tail_with_start_sends_earlier_lines_first_and_none_twice(make_api):
    api = await make_api()
    earlier = [{"@timestamp": ts(-5 + i), "message": f"early {i}"} for i in range(3)]
    await api.post_lines({"labels": {"app": "back"}, "lines": earlier})
    params = {"query": '{app="back"}', "start": str(time_ns() - 60 * NS_PER_SECOND), "limit": "100"}
    async with api.http.ws_connect("/loki/api/v1/tail", params=params, headers=auth()) as ws:
        first = (await ws.receive(timeout=20)).json()
        assert [line for s in first["streams"] for _, line in s["values"]] == ["early 0", "early 1", "early 2"]
        await api.post_lines({"labels": {"app": "back"}, "lines": [{"@timestamp": ts(), "message": "late"}]})
        received: list[str] = []
        while "late" not in received:
            frame = (await ws.receive(timeout=20)).json()
            received += [line for s in frame["streams"] for _, line in s["values"]]
        assert received == ["late"]  # the earlier lines are not sent again by the live part
