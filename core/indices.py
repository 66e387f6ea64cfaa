"""Index names, time buckets and the index templates kept as data in ``mappings/``."""

from __future__ import annotations

import calendar
import functools
import importlib.resources
import json
import time
from dataclasses import dataclass
from typing import Any

from logriver.core.settings import Settings

# mappings/ is a package only so that its JSON files install with logriver, wheel or editable.
MAPPINGS = importlib.resources.files("logriver.mappings")

# The fields the code reads and writes; start-up checks the templates still define them.
LINE_FIELDS = ("@timestamp", "order_num", "seq", "message", "labels", "stream_id", "tenant", "ingested_at", "fields")
STREAM_FIELDS = (
    "stream_id",
    "tenant",
    "labels",
    "metadata",
    "created_at",
    "last_line_ns",
    "labels_key",
    "label_values",
)

_BUCKET_FORMATS = {"hour": "%Y.%m.%d.%H", "day": "%Y.%m.%d", "month": "%Y.%m"}
_BUCKET_LABELS = {"hour": "%Y-%m-%d %H:00 UTC", "day": "%Y-%m-%d", "month": "%Y-%m"}


class TemplateError(RuntimeError):
    """A template file in mappings/ is missing a field the code depends on."""


@dataclass(frozen=True)
class IndexLayout:
    """Where a deployment's lines and streams live, derived from prefix and granularity."""

    prefix: str
    granularity: str = "day"
    refresh_interval: str = "1s"
    shards: int = 1
    replicas: str = "0-1"

    @property
    def lines_pattern(self) -> str:
        return f"{self.prefix}-lines-*"

    @property
    def streams_index(self) -> str:
        return f"{self.prefix}-streams"

    def lines_index(self, timestamp_ns: int) -> str:
        """The index a line belongs to, from its own timestamp (late lines land in the past)."""
        return self._index_of_hour(timestamp_ns // 3_600_000_000_000)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one IndexNames per app, alive as long as the app
    def _index_of_hour(self, hour: int) -> str:
        # Every granularity is a whole number of hours, so the hour decides the index.
        bucket = time.strftime(_BUCKET_FORMATS[self.granularity], time.gmtime(hour * 3600))
        return f"{self.prefix}-lines-{bucket}"

    def bucket_end_seconds(self, index_name: str) -> int | None:
        """The first second after an index's bucket, or None when the name is not ours."""
        start = self._bucket_start(index_name)
        return None if start is None else _next_bucket_start(start, self.granularity)

    def bucket_span_seconds(self, index_name: str) -> tuple[int, int] | None:
        """[first second, first second after) of an index's bucket, or None when the name is not ours."""
        start = self._bucket_start(index_name)
        return None if start is None else (calendar.timegm(start), _next_bucket_start(start, self.granularity))

    def bucket_label(self, index_name: str) -> str | None:
        """The bucket as a reader names it (`2026-11-30`, `2026-11-30 13:00 UTC`, `2026-11`)."""
        start = self._bucket_start(index_name)
        return None if start is None else time.strftime(_BUCKET_LABELS[self.granularity], start)

    def _bucket_start(self, index_name: str) -> time.struct_time | None:
        head = f"{self.prefix}-lines-"
        if not index_name.startswith(head):
            return None
        try:
            return time.strptime(index_name[len(head) :], _BUCKET_FORMATS[self.granularity])
        except ValueError:
            return None

    def lines_indices_between(self, start_seconds: int, end_seconds: int) -> list[str]:
        """The lines indices whose buckets meet [start, end], oldest first."""
        names: list[str] = []
        hour = start_seconds // 3600
        while hour * 3600 <= end_seconds:
            name = self._index_of_hour(hour)
            if name not in names:
                names.append(name)
            hour += 1
        return names

    def templates(self) -> dict[str, dict[str, Any]]:
        """Template name -> body, with the prefix filled in."""
        templates = {
            f"{self.prefix}-lines": load_template("lines", self.prefix, LINE_FIELDS),
            f"{self.prefix}-streams": load_template("streams", self.prefix, STREAM_FIELDS),
        }
        for body in templates.values():
            body["template"]["settings"].update(self.dynamic_settings())
        # The stream registry stays one shard: one small document per stream.
        templates[f"{self.prefix}-lines"]["template"]["settings"]["number_of_shards"] = self.shards
        return templates

    def dynamic_settings(self) -> dict[str, Any]:
        """The index settings that existing indices can take too (`logriver indices apply`)."""
        return {"refresh_interval": self.refresh_interval, **replica_settings(self.replicas)}


def layout_of(settings: Settings) -> IndexLayout:
    """The layout a deployment's settings describe."""
    return IndexLayout(
        settings.index_prefix,
        settings.index_granularity,
        settings.index_refresh_interval,
        settings.index_shards,
        settings.index_replicas,
    )


def replica_settings(replicas: str) -> dict[str, Any]:
    """A count pins the replicas; a range `min-max` lets Elasticsearch follow the number of data nodes."""
    if replicas.isdigit():
        # "false" switches off an auto-expand range an index may carry from an earlier setting.
        return {"number_of_replicas": int(replicas), "auto_expand_replicas": "false"}
    return {"auto_expand_replicas": replicas}


def _next_bucket_start(start: time.struct_time, granularity: str) -> int:
    base = calendar.timegm(start)
    if granularity == "hour":
        return base + 3600
    if granularity == "day":
        return base + 86400
    year, month = (start.tm_year + 1, 1) if start.tm_mon == 12 else (start.tm_year, start.tm_mon + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0))


def load_template(name: str, prefix: str, required_fields: tuple[str, ...]) -> dict[str, Any]:
    """Read ``mappings/<name>.json``, fill in the prefix and check the fields the code uses."""
    body = json.loads(MAPPINGS.joinpath(f"{name}.json").read_text())
    patterns = body.get("index_patterns")
    if not patterns or not all("{prefix}" in p for p in patterns):
        raise TemplateError(f"mappings/{name}.json: index_patterns must contain {{prefix}}")
    body["index_patterns"] = [p.replace("{prefix}", prefix) for p in patterns]
    properties = body.get("template", {}).get("mappings", {}).get("properties", {})
    missing = [f for f in required_fields if f not in properties]
    if missing:
        raise TemplateError(f"mappings/{name}.json lacks fields {missing}")
    return dict(body)
