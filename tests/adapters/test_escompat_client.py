"""The official Elasticsearch Python client (product check included) writing into logriver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from elasticsearch import AsyncElasticsearch, helpers
from elasticsearch.helpers import BulkIndexError

from tests.adapters.es_helpers import PREFIX, read_back
from tests.helpers import ts


@pytest.fixture
async def connect(api) -> AsyncIterator:
    """Clients pointed at the test server's URL plus the prefix, closed after the test."""
    clients: list[AsyncElasticsearch] = []

    def make(**options) -> AsyncElasticsearch:
        if not {"api_key", "bearer_auth"} & set(options):
            options["basic_auth"] = ("logriver", "rw-acme")
        client = AsyncElasticsearch(str(api.http.make_url(PREFIX)), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_the_client_accepts_logriver_as_elasticsearch(connect):
    client = connect()
    info = await client.info()  # raises UnsupportedProductError without the product header
    assert info["version"]["number"].split(".")[0] in ("8", "9")
    assert await client.ping() is True
    assert (await client.cluster.health())["status"] == "green"
    assert (await client.license.get())["license"]["status"] == "active"


async def test_the_clients_setup_calls_succeed(connect):
    client = connect(bearer_auth="rw-acme")
    assert (await client.indices.put_index_template(name="app", index_patterns=["app-*"]))["acknowledged"]
    assert (await client.ilm.put_lifecycle(name="app", policy={"phases": {}}))["acknowledged"]
    assert (await client.ingest.put_pipeline(id="app", processors=[]))["acknowledged"]
    assert await client.indices.exists_index_template(name="app")


async def test_streaming_bulk_creates_lines_in_order_and_replays_are_conflicts(api, connect):
    client = connect()
    actions = [
        {
            "_op_type": "create",
            "_index": "app-2024.05.01",
            "_id": f"line-{i}",
            "@timestamp": ts(-300 + i),
            "message": f"m{i}",
        }
        for i in range(250)
    ]
    results = [r async for r in helpers.async_streaming_bulk(client, actions, chunk_size=100, refresh="wait_for")]
    assert all(ok for ok, _ in results) and len(results) == 250
    assert {item["create"]["status"] for _, item in results} == {201}
    lines = await read_back(api, index="app")
    assert [line["message"] for line in lines] == [f"m{i}" for i in range(250)]

    replayed = [r async for r in helpers.async_streaming_bulk(client, actions, chunk_size=100, raise_on_error=False)]
    assert {item["create"]["status"] for _, item in replayed} == {409}
    assert len(await read_back(api, index="app")) == 250


async def test_bulk_with_api_key_and_compression(api, connect):
    client = connect(api_key=("shipper", "rw-acme"), http_compress=True)
    actions = [{"_index": "zipped", "@timestamp": ts(-50 + i), "message": f"z{i}"} for i in range(50)]
    assert await helpers.async_bulk(client, actions, refresh="wait_for") == (50, [])
    assert [line["message"] for line in await read_back(api, index="zipped")] == [f"z{i}" for i in range(50)]


async def test_bad_documents_surface_as_bulk_errors(connect):
    client = connect()
    actions = [{"_index": "bad", "message": "fine"}, {"_index": "bad", "@timestamp": "not a time", "message": "x"}]
    with pytest.raises(BulkIndexError) as raised:
        await helpers.async_bulk(client, actions)
    (error,) = raised.value.errors
    assert error["index"]["status"] == 400 and error["index"]["error"]["type"] == "invalid_timestamp"
