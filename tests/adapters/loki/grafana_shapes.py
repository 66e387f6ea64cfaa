"""What Grafana's Loki data source requires of each answer, as its parsers read them
(pkg/util/converter's Prometheus-style reader for data, the health check, the label browser)."""

from __future__ import annotations

from typing import Any


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _labels(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def check_data(body: dict[str, Any]) -> str:
    """The result type, after checking the whole answer has the shape Grafana decodes."""
    assert body["status"] == "success", body
    data = body["data"]
    kind = data["resultType"]
    result = data["result"]
    if kind == "streams":
        for stream in result:
            assert _labels(stream["stream"]), stream
            for value in stream["values"]:
                # [ns as a string of digits, line]; three elements only on request (categorize-labels)
                assert len(value) == 2 and value[0].isdigit() and isinstance(value[1], str), value
    elif kind == "matrix":
        for series in result:
            assert _labels(series["metric"]), series
            for t, v in series["values"]:
                assert _number(t) and isinstance(v, str), (t, v)
                float(v.replace("Inf", "inf"))
    elif kind == "vector":
        for sample in result:
            assert _labels(sample["metric"]), sample
            t, v = sample["value"]
            assert _number(t) and isinstance(v, str), sample
    else:
        assert kind == "scalar" and _number(result[0]) and isinstance(result[1], str), data
    return str(kind)


def check_strings(body: dict[str, Any]) -> list[str]:
    assert body["status"] == "success", body
    assert all(isinstance(item, str) for item in body["data"]), body
    return list(body["data"])


def check_error(body: dict[str, Any]) -> str:
    """Grafana shows `message` (pkg/tsdb/loki/api.go reads it); Prometheus clients read `error`."""
    assert body["status"] == "error" and body["message"] == body["error"] and body["message"], body
    return str(body["message"])
