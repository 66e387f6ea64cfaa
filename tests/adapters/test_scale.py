"""Scale "Job Execution Log" over HTTP against the real Elasticsearch."""

from __future__ import annotations

import time
from typing import Any

import pytest

from logriver.core.timeutil import NS_PER_MS, NS_PER_SECOND, format_rfc3339_ns
from tests.helpers import auth

JOB_EXE = "42"
WRITE_BATCH = 2000  # keeps each native request under aiohttp's 1 MiB large-body warning
SCALE_KEYS = ["message", "@timestamp", "scale_order_num", "scale_task", "scale_job_exe", "scale_node", "stream"]


def log_path(log_id: str = "combined", job_exe_id: str = JOB_EXE, version: str = "v6") -> str:
    return f"/{version}/job-executions/{job_exe_id}/logs/{log_id}/"


def base_ns() -> int:
    """A whole millisecond a minute ago: inside the accepted window, before any 'now'."""
    return (time.time_ns() // NS_PER_MS - 60_000) * NS_PER_MS


def line(message: str, at_ns: int, order_num: int | None = None, **labels: str) -> dict[str, Any]:
    item: dict[str, Any] = {"@timestamp": format_rfc3339_ns(at_ns), "message": message, "labels": labels}
    if order_num is not None:
        item["order_num"] = order_num
    return item


async def write(api, lines: list[dict[str, Any]], job_exe_id: str = JOB_EXE, **labels: str) -> None:
    for start in range(0, len(lines), WRITE_BATCH):
        batch = lines[start : start + WRITE_BATCH]
        result = await api.post_lines({"labels": {"job_exe_id": job_exe_id, **labels}, "lines": batch})
        assert result["accepted"] == len(batch), result


async def write_job(api, base: int) -> None:
    """stdout and stderr lines, two sharing a timestamp and ordered by order_num only."""
    meta = {"scale_task": "123", "scale_node": "machine.com", "scale_job_exe": "scale_job_1234_263x0"}
    await write(
        api,
        [
            line("out 1", base, 0, stream="stdout", **meta),
            line("out 3", base + 2 * NS_PER_MS, 2, stream="stdout", **meta),
            line("out 2", base + 2 * NS_PER_MS, 1, stream="stdout", **meta),
        ],
    )
    await write(api, [line("err <b>&</b>", base + NS_PER_MS, 5, stream="stderr", **meta)])
    await write(api, [line("other job", base, 0, stream="stdout")], job_exe_id="43")


async def get(api, path: str, token: str | None = "read-acme", headers: dict[str, str] | None = None, **params: Any):
    all_headers = {**(auth(token) if token else {}), **(headers or {})}
    return await api.http.get(path, params={k: str(v) for k, v in params.items()}, headers=all_headers)


async def get_json(api, path: str, expect: int = 200, **kwargs: Any) -> Any:
    response = await get(api, path, **kwargs)
    assert response.status == expect, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


def messages(body: list[dict[str, Any]]) -> list[str]:
    return [item["message"] for item in body]


# --- JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v6", "v7"])
async def test_combined_json_in_timestamp_then_order_num_order(api, version):
    base = base_ns()
    await write_job(api, base)
    body = await get_json(api, log_path(version=version))
    assert messages(body) == ["out 1", "err <b>&</b>", "out 2", "out 3"]
    assert list(body[0]) == SCALE_KEYS
    assert body[2] == {
        "message": "out 2",
        "@timestamp": format_rfc3339_ns(base + 2 * NS_PER_MS),
        "scale_order_num": 1,
        "scale_task": 123,
        "scale_job_exe": "scale_job_1234_263x0",
        "scale_node": "machine.com",
        "stream": "stdout",
    }


async def test_stdout_and_stderr_select_their_stream(api):
    await write_job(api, base_ns())
    assert messages(await get_json(api, log_path("stdout"))) == ["out 1", "out 2", "out 3"]
    assert messages(await get_json(api, log_path("stderr"))) == ["err <b>&</b>"]


async def test_missing_labels_are_null(api):
    await write(api, [line("bare", base_ns())])
    body = await get_json(api, log_path())
    assert body == [
        {
            "message": "bare",
            "@timestamp": body[0]["@timestamp"],
            "scale_order_num": 0,
            "scale_task": None,
            "scale_job_exe": None,
            "scale_node": None,
            "stream": None,
        }
    ]


# --- formats and content negotiation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "accept", "expected"),
    [
        ({}, None, "application/json"),
        ({}, "application/json", "application/json"),
        ({}, "*/*", "application/json"),
        ({}, "text/plain", "text/plain"),
        ({}, "text/*", "text/plain"),
        ({}, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ({}, "text/plain;q=0.5, text/html", "text/html"),
        ({}, "application/json;q=0, */*", "text/plain"),
        ({"format": "json"}, "text/plain", "application/json"),
        ({"format": "txt"}, None, "text/plain"),
        ({"format": "html"}, "application/json", "text/html"),
    ],
)
async def test_format_follows_the_format_parameter_then_accept(api, params, accept, expected):
    await write_job(api, base_ns())
    response = await get(api, log_path(), headers={"Accept": accept} if accept else {}, **params)
    assert response.status == 200 and response.content_type == expected


async def test_text_joins_messages_with_newlines(api):
    await write_job(api, base_ns())
    response = await get(api, log_path(), format="txt")
    assert await response.text() == "out 1\nerr <b>&</b>\nout 2\nout 3"
    response = await get(api, log_path("stdout"), headers={"Accept": "text/plain"})
    assert await response.text() == "out 1\nout 2\nout 3"


async def test_html_has_one_escaped_div_per_line(api):
    await write_job(api, base_ns())
    text = await (await get(api, log_path(), format="html")).text()
    assert text.count("<div") == 4
    assert '<div class="stdout">out 1</div>' in text
    assert '<div class="stderr">err &lt;b&gt;&amp;&lt;/b&gt;</div>' in text
    assert text.index("out 1") < text.index("err &lt;") < text.index("out 2") < text.index("out 3")


async def test_unknown_format_is_404(api):
    await write_job(api, base_ns())
    assert await get_json(api, log_path(), expect=404, format="xml") == {"detail": "Not found."}


@pytest.mark.parametrize("accept", ["application/xml", "image/png, text/csv", "application/json;q=0"])
async def test_unsatisfiable_accept_is_406(api, accept):
    body = await get_json(api, log_path(), expect=406, headers={"Accept": accept})
    assert body == {"detail": "Could not satisfy the request Accept header."}


@pytest.mark.parametrize("path", [log_path("stdlog"), log_path("Combined"), log_path(job_exe_id="abc")])
async def test_unknown_log_or_job_execution_id_is_404(api, path):
    assert await get_json(api, path, expect=404) == {"detail": "Not found."}


# --- started / ended --------------------------------------------------------------------------------


async def test_started_is_inclusive_and_ended_exclusive(api):
    base = base_ns()
    await write_job(api, base)
    at = format_rfc3339_ns(base + NS_PER_MS)
    assert messages(await get_json(api, log_path(), started=at)) == ["err <b>&</b>", "out 2", "out 3"]
    assert messages(await get_json(api, log_path(), ended=at)) == ["out 1"]
    both = await get_json(api, log_path(), started=at, ended=format_rfc3339_ns(base + 2 * NS_PER_MS))
    assert messages(both) == ["err <b>&</b>"]


async def test_started_with_a_zone_offset(api):
    base = base_ns()
    await write_job(api, base)
    seconds = base // NS_PER_SECOND  # the lines lie within [seconds, seconds + 2)
    later = time.strftime("%Y-%m-%dT%H:%M:%S+02:00", time.gmtime(seconds + 2 + 7200))
    assert (await get(api, log_path(), started=later)).status == 204
    earlier = time.strftime("%Y-%m-%dT%H:%M:%S-01:30", time.gmtime(seconds - 5400))
    assert len(await get_json(api, log_path(), started=earlier)) == 4


async def test_durations_count_back_from_now(api):
    old, recent = time.time_ns() - 3 * 3600 * NS_PER_SECOND, time.time_ns() - 60 * NS_PER_SECOND
    await write(api, [line("three hours ago", old), line("a minute ago", recent)])
    assert messages(await get_json(api, log_path(), started="PT1H")) == ["a minute ago"]
    assert messages(await get_json(api, log_path(), started="PT3H0M30S")) == ["three hours ago", "a minute ago"]
    both = await get_json(api, log_path(), started="P1D", ended="PT30S")
    assert messages(both) == ["three hours ago", "a minute ago"]
    assert messages(await get_json(api, log_path(), ended="PT2H")) == ["three hours ago"]
    assert messages(await get_json(api, log_path(), started="PT0.5H")) == ["a minute ago"]


@pytest.mark.parametrize("name", ["started", "ended"])
@pytest.mark.parametrize(
    "value", ["", "yesterday", "2015-01-01T00:00:00", "2015-13-01T00:00:00Z", "P", "PT", "P1DT", "P1Y", "1H"]
)
async def test_invalid_time_is_400(api, name, value):
    body = await get_json(api, log_path(), expect=400, **{name: value})
    assert body == {"detail": f"Invalid ISO timestamp format for parameter: {name}"}


@pytest.mark.parametrize("value", ["P" + "9" * 400 + "D", "P99999999999999999999W", "PT" + "9" * 330 + "S"])
async def test_durations_past_the_epoch_mean_from_the_start(api, value):
    old, recent = time.time_ns() - 3 * 3600 * NS_PER_SECOND, time.time_ns() - 60 * NS_PER_SECOND
    await write(api, [line("three hours ago", old), line("a minute ago", recent)])
    assert messages(await get_json(api, log_path(), started=value)) == ["three hours ago", "a minute ago"]
    assert (await get(api, log_path(), ended=value)).status == 204


async def test_no_matching_lines_is_204_with_an_empty_body(api):
    await write_job(api, base_ns())
    for path in (log_path(job_exe_id="99"), log_path("stderr", job_exe_id="43")):
        response = await get(api, path)
        assert response.status == 204 and await response.read() == b""
    response = await get(api, log_path(), started="PT1S", format="html")
    assert response.status == 204 and await response.read() == b""


# --- size ---------------------------------------------------------------------------------------------


async def test_no_ten_thousand_line_cap(api):
    base, count = base_ns(), 12_500
    await write(api, [line(f"line {i}", base + i * 1000, i, stream="stdout") for i in range(count)])
    body = await get_json(api, log_path())
    assert messages(body) == [f"line {i}" for i in range(count)]
    text = await (await get(api, log_path("stdout"), format="txt")).text()
    assert text == "\n".join(f"line {i}" for i in range(count))


# --- authentication ------------------------------------------------------------------------------------


async def test_token_and_bearer_schemes_are_accepted(api):
    await write_job(api, base_ns())
    for header in ("Token read-acme", "Bearer read-acme", "token admin-acme"):
        response = await get(api, log_path(), token=None, headers={"Authorization": header})
        assert response.status == 200, header


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Token", "Authentication credentials were not provided."),
        ("Token nope", "Invalid token."),
        ("Token write-acme", "You do not have permission to perform this action."),
    ],
)
async def test_auth_failures_are_403(api, header, detail):
    headers = {"Authorization": header} if header else {}
    body = await get_json(api, log_path(), token=None, headers=headers, expect=403)
    assert body == {"detail": detail}


async def test_lines_of_another_tenant_are_not_visible(api):
    await write_job(api, base_ns())
    response = await get(api, log_path(), token="admin-other")
    assert response.status == 204
