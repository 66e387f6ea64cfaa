"""Searches sent straight through the client's transport: the same request for less CPU.

`AsyncElasticsearch.search` checks and quotes each parameter, copies and rewrites the headers
and opens a tracing span on every call: about a tenth of a page's CPU when measured (py-spy,
a one-line page). A read sends the same options every time, so the query string and headers
are made once here; the transport still does the rest (node pool, retries, timeouts, TLS,
decoding), and an answer other than 2xx raises the same `ApiError` the client raises, so
core/storage.py translates it as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any
from urllib.parse import quote

from elastic_transport import HttpHeaders
from elasticsearch import ApiError, AsyncElasticsearch
from elasticsearch.exceptions import HTTP_EXCEPTIONS

# The media type the client asks for: the API of Elasticsearch's major version it was made for.
COMPATIBLE_JSON = f"application/vnd.elasticsearch+json; compatible-with={version('elasticsearch').partition('.')[0]}"


class SearchCall:
    """POST /<index>/_search with fixed query options, over one client's transport and headers."""

    def __init__(self, client: AsyncElasticsearch, options: Mapping[str, Any]):
        self.transport = client.transport
        self.query = "&".join(f"{name}={quote(_text(value), ',*')}" for name, value in options.items())
        # What the client itself hands the transport on each call (elasticsearch/_async/client/_base.py):
        # its headers, which carry the credentials and user agent, and its timeout and retry policy.
        self.headers = HttpHeaders(client._headers)
        self.headers.update({"accept": COMPATIBLE_JSON, "content-type": COMPATIBLE_JSON})
        self.transport_options: dict[str, Any] = {
            "request_timeout": client._request_timeout,
            "max_retries": client._max_retries,
            "retry_on_status": client._retry_on_status,
            "retry_on_timeout": client._retry_on_timeout,
            "client_meta": client._client_meta,
        }

    async def __call__(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        target = f"/{quote(index, ',*')}/_search?{self.query}"
        meta, answer = await self.transport.perform_request(
            "POST", target, headers=self.headers, body=body, **self.transport_options
        )
        if not 200 <= meta.status < 300:
            raise HTTP_EXCEPTIONS.get(meta.status, ApiError)(message=_error_type(answer), meta=meta, body=answer)
        if not isinstance(answer, dict):
            raise ApiError(message="a search answered something other than a JSON object", meta=meta, body=answer)
        return answer


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _error_type(answer: Any) -> str:
    """The message the client gives its errors: the error's type when there is one."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict) and "type" in error:
        return str(error["type"])
    return str(error if error is not None else answer)
