"""How the Elasticsearch client reaches a cluster: nodes, credentials, TLS trust and sniffing."""

from __future__ import annotations

import logging
from typing import Any

from logriver.core.settings import Settings, SettingsError

log = logging.getLogger("logriver.storage")


def parse_hosts(es_url: str) -> list[str]:
    """Node URLs from a comma-separated list; each must say http:// or https://."""
    hosts = [part.strip().rstrip("/") for part in es_url.split(",") if part.strip()]
    if not hosts:
        raise SettingsError("LOGRIVER_ES_URL names no Elasticsearch node: give one or more comma-separated URLs")
    for host in hosts:
        if not host.startswith(("http://", "https://")):
            raise SettingsError(
                f"LOGRIVER_ES_URL entry {host!r} lacks a scheme: write http://host:port or https://host:port"
            )
    if len({h.split("://", 1)[0] for h in hosts}) > 1:
        raise SettingsError("LOGRIVER_ES_URL mixes http:// and https:// nodes: one cluster speaks one of them")
    return hosts


def client_options(settings: Settings, es_url: str) -> dict[str, Any]:
    """Keyword arguments of `AsyncElasticsearch` for these settings (nodes, auth, TLS, sniffing)."""
    hosts = parse_hosts(es_url)
    options: dict[str, Any] = {"hosts": hosts, **_auth(settings)}
    if hosts[0].startswith("https://"):
        options.update(_tls(settings, hosts))
    if settings.es_sniff:
        # The cluster reports each node's publish address: reachable on a flat network, not
        # behind a load balancer or NAT, which is why sniffing is off unless asked for.
        options.update(sniff_on_start=True, sniff_on_node_failure=True, min_delay_between_sniffing=60)
    return options


def _auth(settings: Settings) -> dict[str, Any]:
    if settings.es_api_key:
        return {"api_key": settings.es_api_key}
    if settings.es_username:
        return {"basic_auth": (settings.es_username, settings.es_password)}
    return {}


def _tls(settings: Settings, hosts: list[str]) -> dict[str, Any]:
    if not settings.es_verify_certs:
        log.warning(
            "!!! TLS CERTIFICATE VERIFICATION IS OFF for %s: anyone on the network path can read and change "
            "every line and credential. Set LOGRIVER_ES_CA_FILE or LOGRIVER_ES_SSL_FINGERPRINT and remove "
            "LOGRIVER_ES_VERIFY_CERTS=false !!!",
            ", ".join(hosts),
        )
        # One loud line at start-up instead of a warning per request.
        return {"verify_certs": False, "ssl_show_warn": False}
    if settings.es_ssl_fingerprint:
        return {"ssl_assert_fingerprint": settings.es_ssl_fingerprint.replace(":", "").lower()}
    if settings.es_ca_file:
        return {"ca_certs": settings.es_ca_file}
    return {}
