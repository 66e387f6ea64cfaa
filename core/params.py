"""Query parameters that both paths accept the same way."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from logriver.core.errors import ValidationError

LABEL_PARAM_PREFIX = "labels."
INT64_MAX = 2**63 - 1
# ASCII digits only (str.isdigit also accepts "²"), and few enough that converting them is
# cheap: Python refuses to convert more than 4,300 digits, and nothing here needs over 19.
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,19}")


def int_or_none(text: str) -> int | None:
    """A decimal integer of at most 19 digits, or None for anything else."""
    stripped = text.strip()
    return int(stripped) if _INT_TEXT.fullmatch(stripped) else None


def bounded_int(name: str, text: str, minimum: int, maximum: int) -> int:
    """The one parser of integer parameters: a 400 that names the parameter and the range."""
    value = int_or_none(text)
    if value is None or not minimum <= value <= maximum:
        raise ValidationError(
            f"{name} must be an integer from {minimum} to {maximum}, got {text[:40]!r}",
            {"parameter": name, "min": minimum, "max": maximum},
        )
    return value


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


def refuse_unknown(
    names: Iterable[str], known: Iterable[str], route: str, *, labels: bool = False, type: str | None = None
) -> None:
    """A 400 naming every parameter `route` does not know: a destructive call never drops one silently."""
    allowed = sorted(known)
    unknown = sorted(
        {name for name in names if name not in allowed and not (labels and name.startswith(LABEL_PARAM_PREFIX))}
    )
    if unknown:
        takes = ", ".join([*(["labels.<key>"] if labels else []), *allowed]) or "no parameters"
        raise ValidationError(
            f"{route} does not take {', '.join(unknown)}; it takes {takes}",
            {"parameters": unknown, "allowed": allowed},
            type=type,
        )


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
