"""logriver against a node with security on: HTTPS with a CA made by the test, basic auth, API keys.

The node is the session's own `SecuredNode` (the `secured` fixture: HTTPS on a port of the session's block). Creating an
API key is impossible on it (see `test_api_key_reaches_the_api_key_realm`), so an API key is
tested up to the point where Elasticsearch's API-key realm handles the one logriver sends.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import ssl
import urllib.error

import aiohttp
import elastic_transport
import pytest
from elasticsearch import AuthenticationException

from logriver.app import create_app
from logriver.core.settings import Settings
from logriver.core.storage import Storage
from logriver.esruntime.secured import FILE_USER, SecuredNode
from logriver.services import SERVICES
from tests.helpers import ApiClient, ts

pytestmark = pytest.mark.es


def _settings(node: SecuredNode, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "es_url": node.url,
        "index_prefix": f"lrt-{secrets.token_hex(5)}",
        "token_secret": "test-secret",
        "readiness_interval_seconds": 0.2,
        "index_refresh_interval": "100ms",
    }
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


async def _ready(settings: Settings) -> bool:
    """Whether storage with these settings becomes ready (reaches the node and installs templates)."""
    storage = Storage.from_settings(settings, settings.es_url)
    try:
        ready = await storage.check()
        if ready:
            await storage.client.indices.delete(index=f"{settings.index_prefix}-*")
            await storage.client.indices.delete_index_template(name=f"{settings.index_prefix}-*")
        return ready
    finally:
        await storage.close()


async def _refusal(settings: Settings) -> str:
    """Which refusal a request with these settings meets: `tls`, `authentication`, or `none` when answered."""
    storage = Storage.from_settings(settings, settings.es_url)
    try:
        await storage.client.options(max_retries=0).cluster.health()
    except AuthenticationException:
        return "authentication"
    except elastic_transport.TransportError as error:
        return "tls" if _tls_failure(error) else f"other: {error!r}"
    finally:
        await storage.close()
    return "none"


def _tls_failure(error: BaseException | None) -> bool:
    """Whether a transport error comes from the TLS handshake or the pinned fingerprint, not the network."""
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        if isinstance(error, (ssl.SSLError, aiohttp.ServerFingerprintMismatch, elastic_transport.TlsError)):
            return True
        errors = getattr(error, "errors", ())
        error = errors[0] if errors else (error.__cause__ or error.__context__)
    return False


async def test_basic_auth_over_https_with_a_ca_file_writes_and_reads(secured, aiohttp_client, token_store):
    settings = _settings(
        secured, es_username=FILE_USER, es_password=secured.password(), es_ca_file=str(secured.certificates.ca_cert)
    )
    app = create_app(settings, token_store, settings.es_url)
    api = ApiClient(await aiohttp_client(app))
    for _ in range(100):
        if (await api.http.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.1)
    try:
        written = await api.post_lines({"lines": [{"@timestamp": ts(), "message": "over tls", "labels": {"a": "b"}}]})
        assert written["accepted"] == 1
        page = await api.get_lines(labels__a="b")
        assert [line["message"] for line in page["lines"]] == ["over tls"]
    finally:
        storage = app[SERVICES].storage
        await storage.client.options(ignore_status=404).indices.delete(index=f"{settings.index_prefix}-*")
        await storage.client.options(ignore_status=404).indices.delete_index_template(name=f"{settings.index_prefix}-*")


async def test_the_bootstrap_password_of_the_elastic_user_works(secured):
    ca = str(secured.certificates.ca_cert)
    assert await _ready(_settings(secured, es_username="elastic", es_password=secured.password(), es_ca_file=ca))


async def test_a_pinned_certificate_fingerprint_replaces_the_ca(secured):
    fingerprint = secured.certificates.node_fingerprint()
    colons = ":".join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)).upper()
    for form in (fingerprint, colons):
        ok = _settings(secured, es_username=FILE_USER, es_password=secured.password(), es_ssl_fingerprint=form)
        assert await _ready(ok)
    wrong = _settings(secured, es_username=FILE_USER, es_password=secured.password(), es_ssl_fingerprint="ab" * 32)
    assert await _refusal(wrong) == "tls"
    # The aiohttp client pins the certificate the node presents, not the CA that signed it.
    ca_fingerprint = secured.certificates.ca_fingerprint()
    ca_pinned = _settings(
        secured, es_username=FILE_USER, es_password=secured.password(), es_ssl_fingerprint=ca_fingerprint
    )
    assert await _refusal(ca_pinned) == "tls"


async def test_verification_is_on_by_default_and_a_wrong_password_is_refused(secured):
    # The test CA is in no system store: without a CA file or a fingerprint the handshake fails.
    assert await _refusal(_settings(secured, es_username=FILE_USER, es_password=secured.password())) == "tls"
    ca = str(secured.certificates.ca_cert)
    assert (
        await _refusal(_settings(secured, es_username=FILE_USER, es_password="wrong", es_ca_file=ca))
        == "authentication"
    )
    assert await _refusal(_settings(secured, es_ca_file=ca)) == "authentication"
    # The same settings with the right password pass both checks: the refusals above are the ones named.
    assert (
        await _refusal(_settings(secured, es_username=FILE_USER, es_password=secured.password(), es_ca_file=ca))
        == "none"
    )


async def test_verification_off_works_and_warns_loudly(secured, caplog):
    settings = _settings(secured, es_username=FILE_USER, es_password=secured.password(), es_verify_certs=False)
    with caplog.at_level(logging.WARNING, logger="logriver.storage"):
        assert await _ready(settings)
    assert "TLS CERTIFICATE VERIFICATION IS OFF" in caplog.text


async def test_api_key_reaches_the_api_key_realm(secured):
    """Creating a key fails on the minimal distribution; a key sent by logriver is read as one."""
    with pytest.raises(urllib.error.HTTPError) as created:
        secured.request("POST", "/_security/api_key", {"name": "logriver"})
    # The security index maps `email` with analysis-common's pattern_capture filter, absent here.
    assert "Unknown filter type [pattern_capture]" in created.value.read().decode()

    key_id = f"k{secrets.token_hex(4)}"
    encoded = base64.b64encode(f"{key_id}:{secrets.token_hex(8)}".encode()).decode()
    settings = _settings(secured, es_api_key=encoded, es_ca_file=str(secured.certificates.ca_cert))
    storage = Storage.from_settings(settings, settings.es_url)
    try:
        with pytest.raises(AuthenticationException) as refused:
            await storage.client.cluster.health()
    finally:
        await storage.close()
    assert f"apikey authentication for id {key_id}" in str(refused.value.body)
