"""Validation of IceProd request bodies and parameters, with IceProd's own error wording."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from logriver.adapters.iceprod_entries import LABELLED_FIELDS
from logriver.core.errors import BadRequestError
from logriver.core.settings import Settings
from logriver.core.timeutil import TimestampError, parse_rfc3339_ns

DEFAULT_LIST_KEYS = frozenset({"name", "data", "timestamp", "task_id", "dataset_id"})
SERVER_SET = ("log_id", "timestamp")  # IceProd sets these itself, whatever the body says
# IceProd's own timestamps carry no zone and mean UTC; a date alone means its midnight.
_NAIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class ListParams:
    """`GET /logs`: label filters, a window [start, end), the keys to return, a limit (0: none)."""

    filters: dict[str, str]
    start_ns: int | None
    end_ns: int | None
    keys: frozenset[str] | None
    limit: int


@dataclass(frozen=True)
class TaskParams:
    """`GET /datasets/{d}/tasks/{t}/logs`: how many, grouped by name or not, which order and keys."""

    num: int
    group: bool
    order: Order
    keys: frozenset[str] | None


def load_new_entry(
    body: Any, settings: Settings, dataset_id: str | None = None, default_name: str | None = None
) -> tuple[dict[str, Any], str]:
    """(the body fields to store besides data, data) of a create request."""
    if not isinstance(body, dict):
        raise BadRequestError("request body must be a JSON object", type="invalid_body")
    if "data" not in body:
        raise BadRequestError("data field not in body", type="missing_data")
    data = body["data"]
    if not isinstance(data, str):
        raise BadRequestError("data field must be a string", type="invalid_data")
    fields = {key: value for key, value in body.items() if key != "data" and key not in SERVER_SET}
    if dataset_id is not None:
        fields["dataset_id"] = dataset_id
    if default_name is not None and "name" not in fields:
        fields["name"] = default_name
    for name in LABELLED_FIELDS:
        _check_label_value(name, fields.get(name), settings)
    return fields, data


def _check_label_value(name: str, value: Any, settings: Settings) -> None:
    # These three become labels, so they are filterable; a label value is a bounded string.
    if value is not None and not isinstance(value, str):
        raise BadRequestError(f"{name} field must be a string", type="invalid_field")
    if value is not None and len(value) > settings.max_label_value_length:
        raise BadRequestError(
            f"{name} field is longer than {settings.max_label_value_length} characters", type="invalid_field"
        )


def load_list_params(query: Mapping[str, str], body: Any) -> ListParams:
    """Parameters of `GET /logs` from the JSON body and the query string (which wins)."""
    if body is not None and not isinstance(body, dict):
        raise BadRequestError("request body must be a JSON object", type="invalid_body")
    params = {**(body or {}), **query}
    filters = {}
    for name in LABELLED_FIELDS:
        value = _given(params, name)
        if value is not None:
            filters[name] = _string(name, value)
    start = _given(params, "from")
    end = _given(params, "to")
    return ListParams(
        filters=filters,
        start_ns=None if start is None else parse_iceprod_time("from", start),
        end_ns=None if end is None else parse_iceprod_time("to", end) + 1,  # `to` is inclusive
        keys=(parse_keys(_given(params, "keys"), None) or DEFAULT_LIST_KEYS) | {"log_id"},  # listings are keyed by it
        limit=_count("limit", _given(params, "limit")),
    )


def load_task_params(query: Mapping[str, str]) -> TaskParams:
    """Parameters of `GET /datasets/{d}/tasks/{t}/logs`."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequestError('bad order param. should be "asc" or "desc".', type="invalid_parameter")
    return TaskParams(
        num=_count("num", _given(query, "num")),
        group=query.get("group", "false").lower() == "true",
        order=order,  # type: ignore[arg-type]
        keys=parse_keys(_given(query, "keys"), None),
    )


def parse_keys(value: Any, default: frozenset[str] | None) -> frozenset[str] | None:
    """`a|b|c` as a set of exactly those keys; None means every field."""
    if value is None:
        return default
    keys = frozenset(key for key in _string("keys", value).split("|") if key)
    return keys or default


def parse_iceprod_time(name: str, value: Any) -> int:
    """An IceProd timestamp (UTC without zone), a date (its midnight), or RFC 3339; in ns."""
    text = _string(name, value).strip()
    if _DATE.fullmatch(text):
        text += "T00:00:00Z"
    elif _NAIVE_TIME.fullmatch(text):
        text += "Z"
    try:
        return parse_rfc3339_ns(text)
    except TimestampError:
        raise BadRequestError(
            f"bad {name} param. must be a timestamp such as 2024-05-01T12:00:00.000000", type="invalid_parameter"
        ) from None


def _given(params: Mapping[str, Any], name: str) -> Any:
    """The parameter, with null and "" meaning absent."""
    value = params.get(name)
    return None if value is None or value == "" else value


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequestError(f"bad {name} param. must be a string", type="invalid_parameter")
    return value


def _count(name: str, value: Any) -> int:
    """A non-negative integer, 0 when absent (IceProd: 0 means no limit)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRequestError(f"bad {name} param. must be int", type="invalid_parameter")
    try:
        count = int(value)
    except ValueError:
        raise BadRequestError(f"bad {name} param. must be int", type="invalid_parameter") from None
    if count < 0:
        raise BadRequestError(f"bad {name} param. must be int", type="invalid_parameter")
    return count
