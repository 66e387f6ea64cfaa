"""How settings become client options: node lists, credentials, TLS trust and sniffing."""

from __future__ import annotations

import pytest

from logriver.core.esclient import client_options
from logriver.core.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("es_url", "message"),
    [
        (" , ", "names no Elasticsearch node"),
        ("es1:9200", "lacks a scheme: write http://host:port"),
        ("https://es1:9200,http://es2:9200", "mixes http:// and https://"),
    ],
)
def test_bad_node_lists_say_how_to_fix_them(es_url, message):
    with pytest.raises(SettingsError, match=message):
        client_options(Settings(), es_url)


def test_several_nodes_and_an_api_key_that_wins_over_basic_auth():
    settings = Settings(es_api_key="a2V5", es_username="u", es_password="p")
    options = client_options(settings, "https://es1:9200/, https://es2:9200")
    assert options["hosts"] == ["https://es1:9200", "https://es2:9200"]
    assert options["api_key"] == "a2V5" and "basic_auth" not in options
    assert "sniff_on_start" not in options


def test_tls_trust_options():
    assert client_options(Settings(es_ca_file="/ca.pem"), "https://es:9200")["ca_certs"] == "/ca.pem"
    pinned = client_options(Settings(es_ssl_fingerprint="AB:cd:01"), "https://es:9200")
    assert pinned["ssl_assert_fingerprint"] == "abcd01"
    assert "ca_certs" not in client_options(Settings(es_ca_file="/ca.pem"), "http://es:9200")


def test_sniffing_is_opt_in():
    options = client_options(Settings(es_sniff=True, es_username="u", es_password="p"), "http://es:9200")
    assert (options["sniff_on_start"], options["sniff_on_node_failure"]) == (True, True)
    assert options["basic_auth"] == ("u", "p")
