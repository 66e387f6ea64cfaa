"""ModelArts service event logs over HTTP against the real Elasticsearch."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from logriver.adapters.modelarts import MODELARTS_PREFIX, ModelArtsError, modelarts_error_response
from logriver.core.errors import (
    ForbiddenError,
    LogriverError,
    OverloadedError,
    StorageTimeoutError,
    StorageUnavailableError,
    UnauthorizedError,
    ValidationError,
)
from logriver.core.timeutil import NS_PER_MS, format_rfc3339_ns
from tests.helpers import auth

PROJECT = "acme"
# Keeps each bulk body under the 1 MiB past which aiohttp warns (an error under pytest).
WRITE_BATCH = 2000


def events_path(service_id: str, project_id: str = PROJECT) -> str:
    return f"/v1/{project_id}/services/{service_id}/events"


def base_ms() -> int:
    """A whole millisecond a minute ago: inside the accepted window, before any 'now' line."""
    return time.time_ns() // NS_PER_MS - 60_000


def event_line(message: str, at_ns: int, event_type: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"@timestamp": format_rfc3339_ns(at_ns), "message": message}
    if event_type is not None:
        line["fields"] = {"event_type": event_type}
    return line


async def write_events(api, service_id: str, lines: list[dict[str, Any]], **labels: str) -> None:
    body = {"labels": {"project_id": PROJECT, "service_id": service_id, **labels}, "lines": lines}
    result = await api.post_lines(body)
    assert result["accepted"] == len(lines), result


async def write_sequence(api, service_id: str, count: int, start_ms: int) -> None:
    """`count` normal events `event i`, one per millisecond, in requests of a modest size."""
    for first in range(0, count, WRITE_BATCH):
        numbers = range(first, min(first + WRITE_BATCH, count))
        await write_events(api, service_id, [event_line(f"event {i}", (start_ms + i) * NS_PER_MS) for i in numbers])


async def get_events(
    api, service_id: str, token: str | None = "read-acme", expect: int = 200, project_id: str = PROJECT, **params: Any
) -> dict[str, Any]:
    headers = {"X-Auth-Token": token} if token is not None else {}
    response = await api.http.get(
        events_path(service_id, project_id), params={k: str(v) for k, v in params.items()}, headers=headers
    )
    assert response.status == expect, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


def infos(body: dict[str, Any]) -> list[str]:
    return [event["event_info"] for event in body["events"]]


async def test_events_have_the_documented_shape_newest_first(api):
    start = base_ms()
    await write_events(
        api,
        "svc-1",
        [
            event_line("start to deploy service", start * NS_PER_MS, "normal"),
            event_line("pull image failed", (start + 5) * NS_PER_MS + 700_000, "abnormal"),
            event_line("starting model", (start + 9) * NS_PER_MS),
        ],
    )
    body = await get_events(api, "svc-1")
    assert list(body) == ["service_name", "total_count", "service_id", "count", "events"]
    assert body["service_name"] == "svc-1"  # no display name: the service id
    assert body["service_id"] == "svc-1"
    assert (body["total_count"], body["count"]) == (3, 3)
    assert body["events"] == [
        {"event_type": "normal", "event_info": "starting model", "occur_time": start + 9},
        {"event_type": "abnormal", "event_info": "pull image failed", "occur_time": start + 5},
        {"event_type": "normal", "event_info": "start to deploy service", "occur_time": start},
    ]


async def test_service_name_is_the_stream_display_name(api):
    stream = {"labels": {"project_id": PROJECT, "service_id": "svc-2"}, "metadata": {"display_name": "service-07085"}}
    response = await api.http.put("/api/v1/streams", json=stream, headers=auth("write-acme"))
    assert response.status == 201, await response.text()
    await write_sequence(api, "svc-2", 2, base_ms())
    body = await get_events(api, "svc-2")
    assert (body["service_name"], body["service_id"], body["count"]) == ("service-07085", "svc-2", 2)


async def test_a_service_without_events_is_an_empty_list(api):
    stream = {"labels": {"project_id": PROJECT, "service_id": "quiet"}}
    response = await api.http.put("/api/v1/streams", json=stream, headers=auth("write-acme"))
    assert response.status == 201, await response.text()
    body = await get_events(api, "quiet")
    assert body == {"service_name": "quiet", "total_count": 0, "service_id": "quiet", "count": 0, "events": []}


async def test_unknown_service_is_3502(api):
    body = await get_events(api, "nope", expect=404)
    assert body == {"error_code": "ModelArts.3502", "error_msg": "Service nope does not exist."}


async def test_lines_with_extra_labels_are_another_stream(api):
    await write_events(api, "svc-3", [event_line("from a pod", base_ms() * NS_PER_MS)], pod="p-1")
    body = await get_events(api, "svc-3", expect=404)
    assert body["error_code"] == "ModelArts.3502"


async def test_order_asc_and_sort_by_occur_time(api):
    await write_sequence(api, "svc", 4, base_ms())
    body = await get_events(api, "svc", order="asc", sort_by="occur_time")
    assert infos(body) == ["event 0", "event 1", "event 2", "event 3"]
    body = await get_events(api, "svc", order="desc")
    assert infos(body) == ["event 3", "event 2", "event 1", "event 0"]


async def test_event_type_filter_counts_unmarked_events_as_normal(api):
    start = base_ms()
    await write_events(
        api,
        "svc",
        [
            event_line("marked normal", start * NS_PER_MS, "normal"),
            event_line("broken", (start + 1) * NS_PER_MS, "abnormal"),
            event_line("unmarked", (start + 2) * NS_PER_MS),
        ],
    )
    normal = await get_events(api, "svc", event_type="normal", order="asc")
    assert (infos(normal), normal["total_count"]) == (["marked normal", "unmarked"], 2)
    abnormal = await get_events(api, "svc", event_type="abnormal")
    assert (infos(abnormal), abnormal["total_count"]) == (["broken"], 1)
    assert abnormal["events"][0]["event_type"] == "abnormal"


async def test_event_info_is_a_case_insensitive_substring(api):
    start = base_ms()
    await write_events(
        api,
        "svc",
        [
            event_line("building image for model [TF 3.0.0]", start * NS_PER_MS),
            event_line("model (TF 3.0.0) build image success", (start + 1) * NS_PER_MS),
            event_line("preparing environment", (start + 2) * NS_PER_MS),
        ],
    )
    body = await get_events(api, "svc", event_info="IMAGE FOR", order="asc")
    assert infos(body) == ["building image for model [TF 3.0.0]"]
    body = await get_events(api, "svc", event_info="tf 3.0.0", order="asc")
    assert (infos(body), body["total_count"]) == (
        ["building image for model [TF 3.0.0]", "model (TF 3.0.0) build image success"],
        2,
    )
    body = await get_events(api, "svc", event_info="*")
    assert body["total_count"] == 0  # wildcard characters are matched literally


async def test_event_info_is_exact_past_the_keyword_limit_and_across_cut_words(api):
    """Messages of any length are filtered exactly: over 2048 characters, and across a word's cut at 255."""
    start = base_ms()
    long_message = "x " * 1500 + "Needle in a long message"  # 3024 characters
    cut_word = "q" * 250 + "NEEDLEWORD" + "q" * 60  # the tokenizer cuts it inside NEEDLEWORD
    texts = [long_message, cut_word, "needle", "a needl e", "word: ne-edle"]
    await write_events(api, "svc", [event_line(text, (start + i) * NS_PER_MS) for i, text in enumerate(texts)])
    body = await get_events(api, "svc", event_info="NEEDLE", order="asc")
    assert (infos(body), body["total_count"]) == ([long_message, cut_word, "needle"], 3)
    body = await get_events(api, "svc", event_info="qneedlewordq")
    assert (infos(body), body["total_count"]) == ([cut_word], 1)
    body = await get_events(api, "svc", event_info="in a LONG")
    assert infos(body) == [long_message]


async def test_event_info_pages_and_counts_only_exact_matches(api):
    """Lines the prefilter lets through but that do not contain the text never count or take a place."""
    start = base_ms()
    # "full disk i" has both words of "disk full" (the prefilter passes it); only "disk full i" contains it.
    texts = [f"disk full {i}" if i % 2 == 0 else f"full disk {i}" for i in range(20)]
    await write_events(api, "svc", [event_line(text, (start + i) * NS_PER_MS) for i, text in enumerate(texts)])
    body = await get_events(api, "svc", event_info="Disk Full", offset=2, limit=3, order="asc")
    assert (infos(body), body["count"], body["total_count"]) == (["disk full 4", "disk full 6", "disk full 8"], 3, 10)
    body = await get_events(api, "svc", event_info="disk full", offset=8, limit=5)
    assert (infos(body), body["total_count"]) == (["disk full 2", "disk full 0"], 10)
    body = await get_events(api, "svc", event_info="disk full", offset=10)
    assert (body["events"], body["total_count"]) == ([], 10)


async def test_event_info_refuses_to_check_more_than_the_limit(make_api, settings):
    api = await make_api(replace(settings, contains_max_scanned_lines=4))
    await write_sequence(api, "svc", 6, base_ms())
    body = await get_events(api, "svc", event_info="event", expect=400)
    assert body["error_code"] == "ModelArts.0101"
    assert "more than 4 lines" in body["error_msg"] and "LOGRIVER_CONTAINS_MAX_SCANNED_LINES" in body["error_msg"]
    body = await get_events(api, "svc", event_info="event 5")  # four candidates fewer: within the limit
    assert (infos(body), body["total_count"]) == (["event 5"], 1)


async def test_time_window_includes_both_whole_milliseconds(api):
    start = base_ms()
    await write_events(
        api,
        "svc",
        [
            event_line("before", (start - 1) * NS_PER_MS + 999_999),
            event_line("first", start * NS_PER_MS),
            event_line("inside", (start + 1) * NS_PER_MS + 500_000),
            event_line("last", (start + 2) * NS_PER_MS + 999_999),
            event_line("after", (start + 3) * NS_PER_MS),
        ],
    )
    body = await get_events(api, "svc", start_time=start, end_time=start + 2, order="asc")
    assert infos(body) == ["first", "inside", "last"]
    assert body["total_count"] == 3
    one = await get_events(api, "svc", start_time=start + 1, end_time=start + 1)
    assert one["events"] == [{"event_type": "normal", "event_info": "inside", "occur_time": start + 1}]
    assert infos(await get_events(api, "svc", start_time=start + 3, order="asc")) == ["after"]
    assert infos(await get_events(api, "svc", end_time=start - 1, order="asc")) == ["before"]


async def test_bounds_beyond_the_storable_range_mean_no_bound(api):
    await write_sequence(api, "svc", 2, base_ms())
    body = await get_events(api, "svc", start_time=0, end_time=99_999_999_999_999_999)
    assert infos(body) == ["event 1", "event 0"]
    assert (await get_events(api, "svc", start_time=99_999_999_999_999_999))["events"] == []


async def test_offset_limit_count_and_total_count(api):
    await write_sequence(api, "svc", 5, base_ms())
    body = await get_events(api, "svc", offset=1, limit=2)
    assert (infos(body), body["count"], body["total_count"]) == (["event 3", "event 2"], 2, 5)
    body = await get_events(api, "svc", offset=3, limit=10, order="asc")
    assert infos(body) == ["event 3", "event 4"]
    body = await get_events(api, "svc", offset=5)
    assert (body["events"], body["count"], body["total_count"]) == ([], 0, 5)


async def test_default_limit_is_1000(api):
    await write_sequence(api, "svc", 1001, base_ms())
    body = await get_events(api, "svc")
    assert (body["count"], body["total_count"]) == (1000, 1001)
    assert body["events"][-1]["event_info"] == "event 1"


async def test_offsets_past_10000_work(api):
    start = base_ms() - 20_000
    await write_sequence(api, "deep", 10_050, start)
    body = await get_events(api, "deep", offset=10_020, limit=5, order="asc")
    assert infos(body) == [f"event {i}" for i in range(10_020, 10_025)]
    assert [event["occur_time"] for event in body["events"]] == [start + i for i in range(10_020, 10_025)]
    assert body["total_count"] == 10_050
    body = await get_events(api, "deep", offset=10_045, limit=10)
    assert infos(body) == ["event 4", "event 3", "event 2", "event 1", "event 0"]
    body = await get_events(api, "deep", offset=10_001, limit=3, event_type="normal", order="asc")
    assert infos(body) == ["event 10001", "event 10002", "event 10003"]
    body = await get_events(api, "deep", offset=10_020, limit=3, event_info="EVENT", order="asc")
    assert (infos(body), body["total_count"]) == (["event 10020", "event 10021", "event 10022"], 10_050)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"offset": "1.5"},
        {"start_time": "yesterday"},
        {"start_time": "-5"},
        {"end_time": "1562597251764.5"},
        {"end_time": "9223372036854775808"},
        {"event_type": "warning"},
        {"sort_by": "event_type"},
        {"order": "up"},
        {"start_time": "1562597251765", "end_time": "1562597251764"},
    ],
)
async def test_bad_parameters_are_0101(api, params):
    await write_sequence(api, "svc", 1, base_ms())
    body = await get_events(api, "svc", expect=400, **params)
    assert body["error_code"] == "ModelArts.0101"
    assert next(iter(params)) in body["error_msg"] or "end_time" in body["error_msg"]


async def test_empty_parameters_mean_the_default(api):
    await write_sequence(api, "svc", 2, base_ms())
    body = await get_events(api, "svc", limit="", offset="", event_type="", order="")
    assert infos(body) == ["event 1", "event 0"]


async def test_missing_token_is_0201(api):
    body = await get_events(api, "svc", token=None, expect=401)
    assert body == {"error_code": "ModelArts.0201", "error_msg": "Token doesn't exist."}


async def test_unknown_token_is_0203(api):
    body = await get_events(api, "svc", token="forged", expect=401)
    assert body["error_code"] == "ModelArts.0203"


async def test_token_of_another_project_is_0210(api):
    await write_sequence(api, "svc", 1, base_ms())
    body = await get_events(api, "svc", token="admin-other", expect=400)
    assert body == {"error_code": "ModelArts.0210", "error_msg": "Invalid project ID."}
    body = await get_events(api, "svc", token="read-acme", project_id="other", expect=400)
    assert body["error_code"] == "ModelArts.0210"


async def test_token_without_read_role_is_403(api):
    body = await get_events(api, "svc", token="write-acme", expect=403)
    assert body["error_code"] == "ModelArts.0204"


async def test_bearer_token_works_too(api):
    await write_sequence(api, "svc", 1, base_ms())
    response = await api.http.get(events_path("svc"), headers=auth("read-acme"))
    assert response.status == 200
    assert (await response.json())["count"] == 1


@pytest.mark.parametrize(
    ("error", "status", "code", "message"),
    [
        (ValidationError("invalid parameters: limit"), 400, "ModelArts.0101", "invalid parameters: limit"),
        (ModelArtsError(400, "ModelArts.0210", "Invalid project ID."), 400, "ModelArts.0210", "Invalid project ID."),
        (UnauthorizedError("no credentials"), 401, "ModelArts.0201", "Token doesn't exist."),
        (UnauthorizedError("unknown token", type="invalid_credentials"), 401, "ModelArts.0203", "Token is invalid."),
        (ForbiddenError("this token lacks the 'read' role"), 403, "ModelArts.0204", "this token lacks the 'read' role"),
        (OverloadedError("busy"), 429, "ModelArts.0001", "busy"),
        (StorageUnavailableError("down"), 503, "ModelArts.0001", "down"),
        (StorageTimeoutError("slow"), 504, "ModelArts.0001", "slow"),
        (LogriverError("internal error; quote id abc"), 500, "ModelArts.0001", "internal error; quote id abc"),
    ],
)
async def test_every_error_renders_in_the_modelarts_envelope(rendered_error, error, status, code, message):
    response = await rendered_error(MODELARTS_PREFIX, modelarts_error_response, error, retry_after_seconds=7)
    assert response.status == status
    assert orjson.loads(await response.read()) == {"error_code": code, "error_msg": message}
    assert response.headers.get("Retry-After") == ("7" if status in (429, 503, 504) else None)
