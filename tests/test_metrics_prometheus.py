"""A real Prometheus scrapes logriver; its query API must show exactly what the test sent."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from logriver.core.metrics import PROTOCOLS
from tests.helpers import auth, ts
from tests.prometheus_server import promtool_check, running_prometheus, series

OLD, FUTURE = "2001-01-01T00:00:00Z", "2250-01-01T00:00:00Z"


def ndjson(*items: object) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


async def send_every_protocol(http) -> None:
    """Native: 9 lines, 4 refused; es_bulk: 5 actions, 2 refused; iceprod: 2 entries."""
    lines = [{"@timestamp": ts(), "message": f"ok {i}", "labels": {"job": "m"}} for i in range(5)]
    lines += [{"message": "no time"}, {"@timestamp": OLD, "message": "old"}, {"@timestamp": FUTURE, "message": "new"}]
    response = await http.post("/api/v1/lines", json=lines, headers=auth())
    assert len((await response.json())["rejected"]) == 3
    bad_ndjson = b'{"@timestamp": "' + ts().encode() + b'", "message": "fine"}\n{not json\n'
    response = await http.post(
        "/api/v1/lines", data=bad_ndjson, headers={**auth(), "Content-Type": "application/x-ndjson"}
    )
    assert (await response.json())["accepted"] == 1
    bulk = (
        ndjson(
            *[part for i in range(3) for part in ({"create": {"_index": "app"}}, {"message": f"doc {i}"})],
            {"delete": {"_index": "app", "_id": "x"}},
            {"index": {"_index": "app"}},
        )
        + b"{not json}\n"
    )
    response = await http.post("/es/_bulk", data=bulk, headers={**auth(), "Content-Type": "application/x-ndjson"})
    assert (await response.json())["errors"] is True
    for name in ("a", "b"):
        response = await http.post("/datasets/d1/logs", json={"data": name, "task_id": "t"}, headers=auth())
        assert response.status == 201, await response.text()


def documented_alert_rules() -> str:
    """The rule file of docs/metrics.md, as an operator would copy it."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text(encoding="utf-8")
    [rules] = [
        block for block in re.findall(r"^```yaml\n(.*?)^```$", page, re.MULTILINE | re.DOTALL) if "groups:" in block
    ]
    return str(rules)


async def test_prometheus_counts_lines_by_protocol_and_refusals_by_reason(make_api, tmp_path: Path):
    api = await make_api()
    async with running_prometheus(api.http.server.port, tmp_path, documented_alert_rules()) as prometheus:
        await send_every_protocol(api.http)
        received = {series(protocol=p): 0.0 for p in PROTOCOLS} | {
            series(protocol="native"): 10.0,
            series(protocol="es_bulk"): 5.0,
            series(protocol="iceprod"): 2.0,
        }
        await prometheus.wait_for("logriver_lines_received_total", received)
        await prometheus.wait_for(
            "logriver_lines_rejected_total > 0",
            {
                series(protocol="native", reason="missing_field"): 1.0,
                series(protocol="native", reason="too_old"): 1.0,
                series(protocol="native", reason="too_new"): 1.0,
                series(protocol="native", reason="invalid_json"): 1.0,
                series(protocol="es_bulk", reason="illegal_argument_exception"): 1.0,
                series(protocol="es_bulk", reason="document_parsing_exception"): 1.0,
            },
        )
        await prometheus.wait_for(
            'sum by (route, code) (logriver_http_request_duration_seconds_count{family!="root"})',
            {
                series(route="/api/v1/lines", code="200"): 2.0,
                series(route="/es/_bulk", code="200"): 1.0,
                series(route="/datasets/{dataset_id}/logs", code="201"): 2.0,
            },
        )
        await prometheus.wait_for("logriver_storage_ready", {(): 1.0})
        await expect_documented_alerts(prometheus)


async def expect_documented_alerts(prometheus) -> None:
    """The docs' rules load and evaluate cleanly; the refusal rule's expression sees every refused kind."""
    rules = await prometheus.rules()
    assert set(rules) == {"LogriverRefusingLines", "LogriverStorageNotReady"}
    assert {rule["health"] for rule in rules.values()} == {"ok"}, rules
    assert rules["LogriverStorageNotReady"]["state"] == "inactive"
    refused = {
        series(protocol="native", reason=reason): pytest.approx(0.1)  # 1 of 10 native lines each
        for reason in ("missing_field", "too_old", "too_new", "invalid_json")
    } | {
        series(protocol="es_bulk", reason=reason): pytest.approx(0.2)  # 1 of 5 bulk actions each
        for reason in ("illegal_argument_exception", "document_parsing_exception")
    }
    await prometheus.wait_for(rules["LogriverRefusingLines"]["query"], refused)


async def test_the_exposition_passes_promtool(make_api):
    api = await make_api()
    await send_every_protocol(api.http)
    await api.http.get("/api/v1/no/such/route")
    response = await api.http.get("/metrics")
    assert response.status == 200
    exposition = await response.read()
    names = {family.name for family in text_string_to_metric_families(exposition.decode())}
    assert names >= {"logriver_lines_received", "logriver_http_request_duration_seconds", "logriver_build_info"}
    assert promtool_check(exposition) == ""
