"""Query parameters that both paths accept the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from logriver.core.errors import ValidationError

LABEL_PARAM_PREFIX = "labels."


def label_filters(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """`labels.<key>=<value>` parameters as a dict; one value per key (streams have one)."""
    labels: dict[str, str] = {}
    for name, value in items:
        if not name.startswith(LABEL_PARAM_PREFIX):
            continue
        key = name[len(LABEL_PARAM_PREFIX) :]
        if not key:
            raise ValidationError("a label filter needs a name: labels.<name>=<value>", {"parameter": name})
        if key in labels and labels[key] != value:
            raise ValidationError(
                f"label {key!r} is filtered on twice with different values; a line has one value per label",
                {"parameter": name},
            )
        labels[key] = value
    return labels


_REFRESH = {"": True, "true": True, "wait_for": True, "false": False}


def wants_refresh(query: Mapping[str, str]) -> bool:
    """Elasticsearch's `refresh`: empty, `true` or `wait_for` make the lines searchable before the answer."""
    value = query.get("refresh", "false")
    refresh = _REFRESH.get(value.lower())
    if refresh is None:
        raise ValidationError(
            f"refresh must be wait_for, true or false, got [{value}]",
            {"parameter": "refresh", "allowed": ["wait_for", "true", "false"]},
        )
    return refresh
