"""Shards, replicas and refresh come from settings: in new templates and, on demand, on existing indices."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from logriver.cli import main
from logriver.core.indices import layout_of
from logriver.core.settings import Settings, SettingsError


def test_default_replicas_follow_the_data_nodes():
    lines = layout_of(Settings(index_prefix="p")).templates()["p-lines"]["template"]["settings"]
    assert lines["auto_expand_replicas"] == "0-1"
    assert "number_of_replicas" not in lines
    assert lines["number_of_shards"] == 1


def test_a_replica_count_pins_replicas_and_switches_auto_expand_off():
    templates = layout_of(Settings(index_prefix="p", index_shards=3, index_replicas="2")).templates()
    lines, streams = templates["p-lines"]["template"]["settings"], templates["p-streams"]["template"]["settings"]
    assert (lines["number_of_shards"], lines["number_of_replicas"], lines["auto_expand_replicas"]) == (3, 2, "false")
    # The stream registry holds one small document per stream: one shard whatever the lines use.
    assert (streams["number_of_shards"], streams["number_of_replicas"]) == (1, 2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGRIVER_INDEX_REPLICAS": "one"}, "LOGRIVER_INDEX_REPLICAS must be a number"),
        ({"LOGRIVER_INDEX_REPLICAS": "1-"}, "range min-max"),
        ({"LOGRIVER_INDEX_SHARDS": "0"}, "LOGRIVER_INDEX_SHARDS must be between 1 and 1024"),
        ({"LOGRIVER_ES_VERIFY_CERTS": "maybe"}, "LOGRIVER_ES_VERIFY_CERTS must be a bool"),
        ({"LOGRIVER_ES_USERNAME": "u"}, "LOGRIVER_ES_USERNAME and LOGRIVER_ES_PASSWORD go together"),
        ({"LOGRIVER_ES_CA_FILE": "ca.pem", "LOGRIVER_ES_SSL_FINGERPRINT": "ab"}, "either LOGRIVER_ES_CA_FILE"),
    ],
)
def test_bad_cluster_settings_say_which_and_how(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_booleans_read_from_the_environment():
    assert Settings.from_env({"LOGRIVER_ES_VERIFY_CERTS": "false", "LOGRIVER_ES_SNIFF": "yes"}).es_verify_certs is False
    assert Settings.from_env({"LOGRIVER_ES_SNIFF": "on"}).es_sniff is True


def test_indices_apply_updates_existing_indices_and_templates(es_url, index_prefix, monkeypatch, capsys):
    """An index made under old settings gets the new replicas and refresh; templates follow."""
    client = Elasticsearch(es_url)
    old, streams = f"{index_prefix}-lines-2024.05.01", f"{index_prefix}-streams"
    try:
        for name in (old, streams):
            client.indices.create(index=name, settings={"number_of_replicas": 0, "refresh_interval": "1s"})
        monkeypatch.setenv("LOGRIVER_ES_URL", es_url)
        monkeypatch.setenv("LOGRIVER_INDEX_PREFIX", index_prefix)
        monkeypatch.setenv("LOGRIVER_INDEX_REFRESH_INTERVAL", "7s")
        monkeypatch.setenv("LOGRIVER_INDEX_SHARDS", "2")
        assert main(["indices", "apply"]) == 0
        out = capsys.readouterr().out
        assert f"2 existing indices updated: {old}, {streams}" in out
        for name in (old, streams):
            index = client.indices.get_settings(index=name)[name]["settings"]["index"]
            assert (index["refresh_interval"], index["auto_expand_replicas"]) == ("7s", "0-1")
        template = client.indices.get_index_template(name=f"{index_prefix}-lines")["index_templates"][0]
        settings = template["index_template"]["template"]["settings"]["index"]
        assert (settings["number_of_shards"], settings["refresh_interval"]) == ("2", "7s")
        # A later index gets the template's shard count; the existing one keeps its own.
        client.indices.create(index=f"{index_prefix}-lines-2024.05.02")
        fresh = client.indices.get_settings(index=f"{index_prefix}-lines-2024.05.02")
        assert fresh[f"{index_prefix}-lines-2024.05.02"]["settings"]["index"]["number_of_shards"] == "2"

        monkeypatch.setenv("LOGRIVER_INDEX_REPLICAS", "0")
        assert main(["indices", "apply"]) == 0
        index = client.indices.get_settings(index=old)[old]["settings"]["index"]
        assert (index["number_of_replicas"], index["auto_expand_replicas"]) == ("0", "false")
    finally:
        client.options(ignore_status=404).indices.delete(index=f"{index_prefix}-*", expand_wildcards="all")
        client.options(ignore_status=404).indices.delete_index_template(name=f"{index_prefix}-*")
        client.close()
