"""Query parameters that both paths accept the same way."""

from __future__ import annotations

from collections.abc import Iterable

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
