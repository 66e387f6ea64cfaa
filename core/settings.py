"""The one configuration object, built from ``LOGRIVER_*`` variables at start-up."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

GRANULARITIES = ("hour", "day", "month")
MIB = 1024 * 1024


class SettingsError(ValueError):
    """A ``LOGRIVER_*`` variable has a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """Every knob of the service; each field maps to ``LOGRIVER_<FIELD>``."""

    es_url: str = ""  # empty: use the local Elasticsearch provisioned by `logriver es`
    index_prefix: str = "logriver"  # every index and template name starts with it
    index_granularity: str = "day"  # one lines index per UTC hour, day or month
    index_refresh_interval: str = "1s"  # how soon written lines become searchable without ?refresh
    retention_days: int = 30  # lines older than this are rejected and their indices deleted; 0 keeps all
    max_future_seconds: int = 7200  # lines further in the future than this are rejected
    retention_interval_seconds: int = 3600  # how often the retention task looks for expired indices
    host: str = "127.0.0.1"
    port: int = 8080
    max_request_bytes: int = 32 * MIB  # a whole (decompressed) request body
    max_message_bytes: int = 1 * MIB  # one line's message, UTF-8 encoded
    max_labels: int = 32  # labels per line
    max_label_name_length: int = 128
    max_label_value_length: int = 1024
    max_fields_depth: int = 16  # nesting depth of a line's `fields` object
    token_secret: str = field(default_factory=lambda: secrets.token_hex(32))  # signs page tokens
    auth_file: str = ""  # JSON file of API tokens; empty requires --dev
    es_timeout_seconds: float = 30.0  # one Elasticsearch request
    es_retries: int = 3  # bounded retries of a bulk request's retriable items
    readiness_interval_seconds: float = 2.0  # how often storage is probed while not ready
    retry_after_seconds: int = 5  # Retry-After sent with 503 answers
    search_max_total: int = 10000  # hit counts above this are reported as a lower bound ("gte")
    tail_poll_seconds: float = 1.0  # how often the shared tail poller asks for new lines
    tail_buffer_lines: int = 10000  # per tail subscriber before lines are dropped
    tail_max_seconds: int = 3600  # longest a tail session stays open
    es_compat_version: str = "8.17.0"  # version.number reported by the Elasticsearch-compatible surface
    es_compat_prefix: str = "/es"  # path of the Elasticsearch-compatible surface; empty turns it off
    es_compat_timestamp_field: str = "@timestamp"  # document field with a line's time; absent: time received
    es_compat_message_fields: str = "message,log,msg"  # comma-separated; the first present is the message
    es_compat_order_field: str = ""  # document field holding order_num (Scale's fluentd: scale_order_num)
    es_compat_label_fields: str = ""  # comma-separated document fields (dotted paths) promoted to labels
    es_compat_index_label: str = "index"  # label holding the target index, date suffix removed; empty: none
    abeja_page_size: int = 100  # default page size of the ABEJA log API

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Build settings from ``LOGRIVER_*`` variables; ``overrides`` win (command-line flags)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"LOGRIVER_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject combinations that would break index naming or limits."""
        if self.index_granularity not in GRANULARITIES:
            raise SettingsError(
                f"LOGRIVER_INDEX_GRANULARITY must be one of {', '.join(GRANULARITIES)}, got {self.index_granularity!r}"
            )
        prefix = self.index_prefix
        if not prefix or prefix != prefix.lower() or prefix[0] in "-_+." or any(c in prefix for c in ' "*\\<|,>/?:#'):
            raise SettingsError(
                f"LOGRIVER_INDEX_PREFIX {prefix!r} is not a valid Elasticsearch index name start: "
                "use lowercase letters, digits, '-' or '_'"
            )
        if self.retention_days < 0 or self.max_future_seconds < 0:
            raise SettingsError("LOGRIVER_RETENTION_DAYS and LOGRIVER_MAX_FUTURE_SECONDS must be >= 0")


def _convert(name: str, type_name: Any, raw: str) -> Any:
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(f"LOGRIVER_{name.upper()} must be a {kind}, got {raw!r}") from None
    return raw
