"""Searches through the transport (core/searchcall.py) answer and fail as the client's own search does."""

from __future__ import annotations

import pytest
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from elasticsearch.serializer import OrjsonSerializer

from logriver.core.searchcall import SearchCall
from logriver.core.storage import READ_OPTIONS


@pytest.fixture
async def docs(es: AsyncElasticsearch, index_prefix: str) -> str:
    index = f"{index_prefix}-lines-x"
    for n in range(5):
        await es.index(index=index, id=str(n), document={"n": n, "word": "even" if n % 2 == 0 else "odd"})
    await es.indices.refresh(index=index)
    return f"{index_prefix}-lines-*"


async def _both(client: AsyncElasticsearch, index: str, body: dict) -> tuple[object, object]:
    """The client's search and SearchCall's: each answer, or the class, status and body of the error."""
    results: list[object] = []
    for search in (
        lambda: client.search(index=index, **READ_OPTIONS, **body),
        lambda: SearchCall(client, READ_OPTIONS)(index, body),
    ):
        try:
            answer = await search()
            results.append(_stable(dict(answer)))
        except ApiError as exc:
            results.append((type(exc), exc.meta.status, exc.message, _stable(exc.body)))
    return results[0], results[1]


def _stable(answer: object) -> object:
    return {k: v for k, v in answer.items() if k != "took"} if isinstance(answer, dict) else answer


async def test_the_same_answers_and_errors_as_the_clients_search(es_url: str, docs: str, index_prefix: str):
    client = AsyncElasticsearch(es_url, serializer=OrjsonSerializer())
    try:
        sorted_odd = {"query": {"term": {"word": "odd"}}, "sort": [{"n": "desc"}], "size": 10}
        client_answer, call_answer = await _both(client, docs, sorted_odd)
        assert call_answer == client_answer
        assert [hit["_id"] for hit in call_answer["hits"]["hits"]] == ["3", "1"]  # type: ignore[index]
        bad_query = {"query": {"range": {"n": {"gte": "not a number"}}}}
        client_error, call_error = await _both(client, docs, bad_query)
        assert call_error == client_error
        assert call_error[1] == 400  # type: ignore[index]
        # A missing index named exactly (no wildcard) is Elasticsearch's 404 under READ_OPTIONS.
        client_missing, call_missing = await _both(client, f"{index_prefix}-absent", {"size": 1})
        assert call_missing == client_missing
        assert call_missing[0] is NotFoundError  # type: ignore[index]
    finally:
        await client.close()


def test_the_clients_credentials_and_policy_go_with_each_search():
    client = AsyncElasticsearch("http://127.0.0.1:1", api_key="key-1", request_timeout=7, max_retries=3)
    call = SearchCall(client, {"allow_no_indices": True, "expand_wildcards": "open,closed"})
    assert call.headers["authorization"] == "ApiKey key-1"
    assert call.transport_options["request_timeout"] == 7
    assert call.transport_options["max_retries"] == 3
    assert call.query == "allow_no_indices=true&expand_wildcards=open,closed"
