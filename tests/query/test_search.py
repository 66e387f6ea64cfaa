"""GET /api/v1/search: syntax, filters, highlights, totals, tokens, histogram, isolation."""

from __future__ import annotations

import time

import pytest

from logriver.core.timeutil import format_rfc3339_ns

BASE = (time.time_ns() // 60_000_000_000) * 60_000_000_000 - 1800 * 1_000_000_000


def at(seconds: float) -> str:
    return format_rfc3339_ns(BASE + int(seconds * 1_000_000_000))


@pytest.fixture
async def corpus(api):
    await api.post_lines(
        {
            "labels": {"app": "web", "env": "prod"},
            "lines": [
                {"@timestamp": at(0), "message": "GET /index 200"},
                {"@timestamp": at(10), "message": "GET /login 500 internal error", "fields": {"user": "ann"}},
                {"@timestamp": at(70), "message": "disk full on node-1"},
            ],
        }
    )
    await api.post_lines(
        {
            "labels": {"app": "db", "env": "prod"},
            "lines": [
                {"@timestamp": at(20), "message": "slow query error"},
                {"@timestamp": at(130), "message": "checkpoint done"},
            ],
        }
    )
    await api.post_lines(
        {"labels": {"app": "web"}, "lines": [{"@timestamp": at(5), "message": "error in other tenant"}]},
        token="admin-other",
    )
    return api


async def messages(api, **params):
    return [hit["message"] for hit in (await api.get("/api/v1/search", **params))["hits"]]


@pytest.mark.parametrize(
    "q,expected",
    [
        ("error", ["GET /login 500 internal error", "slow query error"]),
        ("error AND labels.app:db", ["slow query error"]),
        ("error OR disk", ["GET /login 500 internal error", "slow query error", "disk full on node-1"]),
        ("error NOT slow", ["GET /login 500 internal error"]),
        ("-slow error", ["GET /login 500 internal error"]),
        ('"disk full"', ["disk full on node-1"]),
        ('message:"full disk"', []),
        ("(GET OR checkpoint) AND NOT login", ["GET /index 200", "checkpoint done"]),
        ("fields.user:ann", ["GET /login 500 internal error"]),
        ("tenant:other", None),
    ],
)
async def test_query_syntax(corpus, q, expected):
    if expected is None:
        error = await corpus.get("/api/v1/search", q=q, expect=400)
        assert error["error"]["type"] == "invalid_query" and "tenant" in error["error"]["message"]
        return
    assert await messages(corpus, q=q, sort="asc") == expected


async def test_other_tenants_lines_are_unreachable(corpus):
    for q in ["error", "labels.app:web", "other tenant", 'NOT "nothing at all"']:
        assert "error in other tenant" not in await messages(corpus, q=q, limit=100)


async def test_sort_limit_token_and_total(corpus):
    first = await corpus.get("/api/v1/search", q="NOT nothingatall", sort="desc", limit=2)
    assert [h["message"] for h in first["hits"]] == ["checkpoint done", "disk full on node-1"]
    assert first["total"] == {"value": 5, "relation": "eq"}
    second = await corpus.get("/api/v1/search", q="NOT nothingatall", sort="desc", limit=2, token_=first["next_token"])
    third = await corpus.get("/api/v1/search", q="NOT nothingatall", sort="desc", limit=2, token_=second["next_token"])
    assert [h["message"] for h in second["hits"] + third["hits"]] == [
        "slow query error",
        "GET /login 500 internal error",
        "GET /index 200",
    ]
    assert third["next_token"] is None
    wrong = await corpus.get("/api/v1/search", q="error", sort="asc", limit=2, token_=first["next_token"], expect=400)
    assert wrong["error"]["type"] == "invalid_token"


async def test_total_is_a_lower_bound_past_the_cap(make_api, settings):
    import dataclasses

    api = await make_api(dataclasses.replace(settings, search_max_total=3))
    await api.post_lines({"labels": {"n": "1"}, "lines": [{"@timestamp": at(i), "message": "hit"} for i in range(5)]})
    result = await api.get("/api/v1/search", q="hit", limit=1)
    assert result["total"] == {"value": 3, "relation": "gte"}


async def test_highlight_label_filter_and_window(corpus):
    result = await corpus.get("/api/v1/search", q="error", labels__app="web")
    assert [h["message"] for h in result["hits"]] == ["GET /login 500 internal error"]
    assert result["hits"][0]["highlight"] == ["GET /login 500 internal <em>error</em>"]
    assert result["hits"][0]["labels"] == {"app": "web", "env": "prod"}
    windowed = await messages(corpus, q="error", start=at(15), end=at(60))
    assert windowed == ["slow query error"]


async def test_histogram(corpus):
    result = await corpus.get("/api/v1/search", q="NOT nothingatall", interval="1m", start=at(0), end=at(180))
    assert result["histogram"] == [
        {"start": at(0), "count": 3},
        {"start": at(60), "count": 1},
        {"start": at(120), "count": 1},
    ]
    auto = await corpus.get("/api/v1/search", q="NOT nothingatall", interval="auto")
    assert sum(b["count"] for b in auto["histogram"]) == 5
    assert "histogram" not in await corpus.get("/api/v1/search", q="error")
    bad = await corpus.get("/api/v1/search", q="error", interval="5 parsecs", expect=400)
    assert "interval" in bad["error"]["message"]
    too_many = await corpus.get("/api/v1/search", q="error", interval="1ms", start=at(0), end=at(180), expect=400)
    assert "buckets" in too_many["error"]["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"interval": "1ms"},  # the lines' own span, the window being open
        {"interval": "1m", "start": "1970-01-01T00:00:00Z", "end": "2262-01-01T00:00:00Z"},
        {"interval": "9" * 5000 + "d"},
        {"interval": "99999999999999999999d"},
    ],
)
async def test_histograms_past_the_bucket_limit_are_400(corpus, params):
    error = await corpus.get("/api/v1/search", q="NOT nothingatall", expect=400, **params)
    assert error["error"]["details"]["parameter"] == "interval"


@pytest.mark.parametrize("window", [{}, {"start": "1970-01-01T00:00:00Z", "end": "2262-01-01T00:00:00Z"}])
async def test_auto_histograms_stay_within_the_bucket_limit(corpus, window):
    result = await corpus.get("/api/v1/search", q="NOT nothingatall", interval="auto", **window)
    assert 0 < len(result["histogram"]) <= 1000
    assert sum(b["count"] for b in result["histogram"]) == 5


@pytest.mark.parametrize(
    "q,fragment",
    [
        ("(error", "never closed"),
        ("error AND", "missing a term"),
        ('"open', "unterminated quote"),
        ("OR x", "expected a term"),
        ("nosuchfield:x", "unknown field"),
    ],
)
async def test_malformed_queries_say_what_is_wrong(api, q, fragment):
    error = await api.get("/api/v1/search", q=q, expect=400)
    assert error["error"]["type"] == "invalid_query" and fragment in error["error"]["message"]
