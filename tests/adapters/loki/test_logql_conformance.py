"""The LogQL conformance table: a few hundred queries over a fixed data set, each checked against
the reference in `reference.py`, which computes the answer from the records' own fields.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from logriver.core.timeutil import NS_PER_SECOND
from tests.adapters.loki import dataset
from tests.adapters.loki.reference import (
    NO_ERROR,
    Part,
    aggregate,
    as_float,
    contains_regex,
    drop,
    expected_entries,
    keep,
    line_filter,
    line_format,
    log_text,
    num_filter,
    number,
    parser,
    range_vector,
    seconds,
    selector,
    size,
    str_filter,
)
from tests.helpers import auth

SELECTORS = [
    selector('{app="edge"}', lambda lb: lb.get("app") == "edge"),
    selector('{app="api"}', lambda lb: lb.get("app") == "api"),
    selector('{app=~"api|web"}', lambda lb: lb.get("app") in ("api", "web")),
    selector('{env="prod", app!="db"}', lambda lb: lb.get("env") == "prod" and lb.get("app") != "db"),
    selector('{env=~"prod"}', lambda lb: lb.get("env") == "prod"),  # anchored: not preprod
    selector('{app=~".+", level!~"info|warn"}', lambda lb: lb.get("level", "") not in ("info", "warn")),
    selector('{app="web", env!="dev"}', lambda lb: lb.get("app") == "web" and lb.get("env") != "dev"),
    selector('{app=~"w.b", level=""}', lambda lb: lb.get("app") == "web" and "level" not in lb),
]
LINE_FILTERS: list[list[Part]] = [
    [],
    [line_filter('|= "timeout"', lambda x: "timeout" in x)],
    [line_filter('!= "health"', lambda x: "health" not in x)],
    [line_filter("|~ `status=5\\d\\d`", contains_regex(r"status=5\d\d"))],
    [line_filter('|= "GET"', lambda x: "GET" in x), line_filter('!= "health"', lambda x: "health" not in x)],
    [line_filter('|= "timeout" or "body"', lambda x: "timeout" in x or "body" in x)],
    [line_filter('|~ "(?i)ERROR"', contains_regex("(?i)ERROR"))],
    [line_filter("!~ `^panic`", lambda x: not x.startswith("panic"))],
    [line_filter('|= "Timeout"', lambda x: "Timeout" in x)],  # case-sensitive
]
LOGFMT = parser("logfmt")
JSON = parser("json")
PIPELINES: list[list[Part]] = [
    [],
    [LOGFMT, NO_ERROR],
    [LOGFMT, NO_ERROR, num_filter("| status >= 500", "status", number, lambda v: v >= 500)],
    [LOGFMT, num_filter("| duration > 1s", "duration", seconds, lambda v: v > 1)],
    [LOGFMT, NO_ERROR, num_filter("| size >= 2KB", "size", size, lambda v: v >= 2000)],
    [LOGFMT, NO_ERROR, str_filter('| method="GET"', "method", lambda v: v == "GET")],
    [JSON, NO_ERROR, num_filter("| status == 200", "status", number, lambda v: v == 200)],
    [JSON, NO_ERROR, num_filter("| user_id > 5", "user_id", number, lambda v: v > 5)],
    [LOGFMT, drop(["__error__", "msg", "duration", "size"])],
    [LOGFMT, NO_ERROR, keep(["app", "status"])],
    [LOGFMT, NO_ERROR, line_format("{{.method}} {{ .status }}!", lambda lb: f"{lb['method']} {lb['status']}!")],
    [JSON, drop(["__error__"]), str_filter('| user_name=~"a.*"', "user_name", lambda v: v.startswith("a"))],
]


def _or_filter() -> Part:
    def pred(labels: dict[str, str]) -> bool:
        if "__error__" in labels:
            return True
        left = labels.get("method") == "POST"
        right = "status" in labels and float(labels["status"]) < 300
        return left or right

    from tests.adapters.loki.reference import label_pred

    return label_pred('| method="POST" or status < 300', pred)


PIPELINES.append([LOGFMT, NO_ERROR, _or_filter()])


@pytest.fixture
async def loaded(make_api):
    api = await make_api()
    base = dataset.base_ns()
    records = dataset.build(base)
    for payload in dataset.payloads(records):
        await api.post_lines(payload)
    return api, base, records


def _log_cases(base: int) -> list[dict[str, Any]]:
    rng = random.Random(1818)
    cases = []
    span = dataset.LINES_PER_STREAM * dataset.SPACING_SECONDS * NS_PER_SECOND
    for sel, filters, pipeline in itertools.product(SELECTORS, LINE_FILTERS, PIPELINES):
        if rng.random() > 0.22:
            continue
        start = base + rng.choice([0, 30, 95]) * NS_PER_SECOND
        end = base + span - rng.choice([0, 41]) * NS_PER_SECOND
        cases.append(
            {"parts": [sel, *filters, *pipeline], "start": start, "end": end, "limit": rng.choice([5, 17, 1000]),
             "forward": rng.random() < 0.5}
        )  # fmt: skip
    return cases


async def test_log_queries_match_the_reference(loaded):
    api, base, records = loaded
    cases = _log_cases(base)
    assert len(cases) > 100
    failures = []
    nonempty = 0
    for case in cases:
        query = log_text(case["parts"])
        params = {"query": query, "start": str(case["start"]), "end": str(case["end"]), "limit": str(case["limit"]),
                  "direction": "forward" if case["forward"] else "backward", "step": "1000ms"}  # fmt: skip
        response = await api.http.get("/loki/api/v1/query_range", params=params, headers=auth())
        body = await response.json()
        if response.status != 200:
            failures.append((query, response.status, body))
            continue
        got = [
            (int(ts), line, tuple(sorted(stream["stream"].items())))
            for stream in body["data"]["result"]
            for ts, line in stream["values"]
        ]
        got.sort(key=lambda item: item[0], reverse=not case["forward"])
        want = expected_entries(records, case["parts"], case["start"], case["end"], case["limit"], case["forward"])
        if got != want:
            failures.append((query, case, got[:3], want[:3], len(got), len(want)))
        nonempty += bool(want)
    assert not failures, failures[:3]
    assert nonempty > len(cases) // 2  # the table is not mostly empty answers


METRIC_PIPELINES: list[list[Part]] = [
    [],
    [line_filter('|= "timeout"', lambda x: "timeout" in x)],
    [LOGFMT, NO_ERROR],
    [LOGFMT, NO_ERROR, num_filter("| status >= 500", "status", number, lambda v: v >= 500)],
    [JSON, drop(["__error__"])],
    [LOGFMT, NO_ERROR, line_format("{{.status}}", lambda lb: lb["status"])],
]
WRAPPERS: list[tuple[str, str, list[str] | None, list[str] | None, int]] = [
    ("sum", "sum({})", None, None, 0),
    ("sum", "sum by (app) ({})", ["app"], None, 0),
    ("sum", "sum({}) by (env, level)", ["env", "level"], None, 0),
    ("count", "count by (env) ({})", ["env"], None, 0),
    ("avg", "avg by (app) ({})", ["app"], None, 0),
    ("max", "max without (env, level) ({})", None, ["env", "level"], 0),
    ("min", "min by (level) ({})", ["level"], None, 0),
    ("topk", "topk(2, sum by (app, env) ({}))", None, None, 2),
]
RANGES = [30, 60, 150]
STEPS = [10, 45, 60]


def _metric_cases() -> list[dict[str, Any]]:
    rng = random.Random(18181)
    cases = []
    ops = ["count_over_time", "rate", "bytes_over_time", "bytes_rate"]
    for sel, pipeline, wrapper, op, range_s, step_s in itertools.product(
        SELECTORS[:4], METRIC_PIPELINES, WRAPPERS, ops, RANGES, STEPS
    ):
        if rng.random() > 0.035:
            continue
        cases.append({"parts": [sel, *pipeline], "wrapper": wrapper, "op": op, "range": range_s, "step": step_s})
    return cases


def _expected_matrix(records, case, steps) -> dict[tuple[tuple[str, str], ...], dict[int, float]]:
    name, _, by, without, k = case["wrapper"]
    out: dict[tuple[tuple[str, str], ...], dict[int, float]] = {}
    for t in steps:
        vector = range_vector(records, case["parts"], case["op"], case["range"], t)
        if not vector:
            continue
        if name == "topk":
            vector = aggregate("topk", aggregate("sum", vector, ["app", "env"], None), None, None, k)
        else:
            vector = aggregate(name, vector, by, without)
        for key, value in vector.items():
            out.setdefault(key, {})[t] = value
    return out


async def test_metric_queries_match_the_reference(loaded):
    api, base, records = loaded
    cases = _metric_cases()
    assert len(cases) > 80
    failures = []
    nonempty = 0
    for case in cases:
        inner = f"{case['op']}({log_text(case['parts'])} [{case['range']}s])"
        query = case["wrapper"][1].format(inner)
        start, end = base + 20 * NS_PER_SECOND, base + 260 * NS_PER_SECOND
        steps = list(range(start, end + 1, case["step"] * NS_PER_SECOND))
        params = {"query": query, "start": str(start), "end": str(end), "step": f"{case['step']}s"}
        response = await api.http.get("/loki/api/v1/query_range", params=params, headers=auth())
        body = await response.json()
        if response.status != 200:
            failures.append((query, response.status, body))
            continue
        assert body["data"]["resultType"] == "matrix"
        got = {
            tuple(sorted(series["metric"].items())): {int(t) * NS_PER_SECOND: as_float(v) for t, v in series["values"]}
            for series in body["data"]["result"]
        }
        want = _expected_matrix(records, case, steps)
        if not _close(got, want):
            failures.append((query, got, want))
        nonempty += bool(want)
    assert not failures, failures[:2]
    assert nonempty > len(cases) // 2


def _close(got: dict, want: dict) -> bool:
    if got.keys() != want.keys():
        return False
    for key, points in want.items():
        if points.keys() != got[key].keys():
            return False
        if any(abs(points[t] - got[key][t]) > 1e-9 * max(1.0, abs(points[t])) for t in points):
            return False
    return True


INSTANT = [
    ("vector(1)+vector(1)", {(): 2.0}),
    ("vector(2) * 3 - 1", {(): 5.0}),
    ("vector(7) % 4", {(): 3.0}),
    ("vector(2) ^ 3 ^ 2", {(): 512.0}),
    ("-1 * vector(3) / 2", {(): -1.5}),
    ("(vector(1) + vector(2)) * vector(4)", {(): 12.0}),
]


async def test_instant_queries_and_arithmetic(loaded):
    api, base, records = loaded
    at = base + 200 * NS_PER_SECOND
    for query, want in INSTANT:
        body = await api.get("/loki/api/v1/query", query=query, time=str(at))
        assert body["data"]["resultType"] == "vector", query
        got = {tuple(sorted(r["metric"].items())): as_float(r["value"][1]) for r in body["data"]["result"]}
        assert got == want, query
    sel = SELECTORS[0]
    query = f"sum by (level) (count_over_time({sel.text} [2m])) * 60 / 2"
    body = await api.get("/loki/api/v1/query", query=query, time=str(at))
    expected = aggregate("sum", range_vector(records, [sel], "count_over_time", 120, at), ["level"], None)
    got = {tuple(sorted(r["metric"].items())): as_float(r["value"][1]) for r in body["data"]["result"]}
    assert got == {key: value * 30 for key, value in expected.items()}
    assert (await api.get("/loki/api/v1/query", query="1 + 2 * 3", time=str(at)))["data"] == {
        "resultType": "scalar",
        "result": [at // NS_PER_SECOND, "7"],
    }
