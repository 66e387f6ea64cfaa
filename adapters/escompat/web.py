"""HTTP plumbing of the Elasticsearch-compatible surface: its error shape, media types and filter_path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from logriver.core.auth import Principal, authenticate
from logriver.core.errors import LogriverError, NotFoundError, OverloadedError, ValidationError
from logriver.core.web import TOKENS, retry_headers

PRODUCT_HEADER = "X-Elastic-Product"
PRODUCT = "Elasticsearch"
# Elastic clients send `application/vnd.elasticsearch+json; compatible-with=8` and expect the same back.
_COMPAT_MEDIA = re.compile(r"application/vnd\.elasticsearch\+(?:x-ndjson|json)\s*;\s*compatible-with\s*=\s*(\d+)")
_BODY_MEDIA = {
    "application/json",
    "application/x-ndjson",
    "application/vnd.elasticsearch+json",
    "application/vnd.elasticsearch+x-ndjson",
}
_CHALLENGES = ('Basic realm="logriver", charset="UTF-8"', "ApiKey", 'Bearer realm="logriver"')
_GONE = object()
# Elasticsearch's own names: a bad parameter or value, and a request shed under load.
_ES_TYPES = {
    ValidationError.type: "illegal_argument_exception",
    OverloadedError.type: "es_rejected_execution_exception",
}


class UnsupportedMediaTypeError(LogriverError):
    status = 406
    type = "media_type_header_exception"


def es_error_response(error: LogriverError, request: web.Request) -> web.Response:
    """Errors in Elasticsearch's shape: `{"error": {"root_cause", "type", "reason"}, "status"}`."""
    error = _routing_error(error, request)
    # Elasticsearch answers every authentication or permission failure as a security_exception,
    # and names a bad parameter or value an illegal_argument_exception.
    kind = "security_exception" if error.status in (401, 403) else _ES_TYPES.get(error.type, error.type)
    cause: dict[str, Any] = {"type": kind, "reason": error.message}
    body: dict[str, Any] = {"error": {"root_cause": [cause], **cause}, "status": error.status}
    if error.details:
        body["error"]["details"] = error.details
    headers = CIMultiDict(retry_headers(error, request))
    if error.status == 401:
        body["error"]["header"] = {"WWW-Authenticate": list(_CHALLENGES)}
        for challenge in _CHALLENGES:
            headers.add("WWW-Authenticate", challenge)
    return _response(request, body, error.status, headers)


def _routing_error(error: LogriverError, request: web.Request) -> LogriverError:
    """The router's own 404 and 405, worded as Elasticsearch words them."""
    if error.status == 404 and error.type == NotFoundError.type:
        return NotFoundError(
            f"no handler found for uri [{request.path}] and method [{request.method}]; logriver answers "
            "bulk writes and the start-up calls of log shippers",
            type="no_handler_found_exception",
        )
    if error.status == 405:
        allowed = ", ".join(error.details.get("allowed_methods", []))
        message = f"Incorrect HTTP method for uri [{request.path}] and method [{request.method}], allowed: [{allowed}]"
        routed = LogriverError(message, type=error.type)
        routed.status = 405
        return routed
    return error


def es_json(request: web.Request, data: Any, status: int = 200) -> web.Response:
    """A JSON answer, trimmed by `filter_path` as Elasticsearch does."""
    spec = request.query.get("filter_path")
    if spec:
        data = filter_path(data, spec)
    return _response(request, data, status)


def _response(request: web.Request, data: Any, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    option = orjson.OPT_INDENT_2 if request.query.get("pretty") not in (None, "false") else 0
    response = web.Response(body=orjson.dumps(data, option=option), status=status, headers=headers)
    response.headers["Content-Type"] = response_media_type(request)
    return response


def response_media_type(request: web.Request) -> str:
    """JSON, or the compatible-with media type the client asked for."""
    for header in ("Accept", "Content-Type"):
        match = _COMPAT_MEDIA.search(request.headers.get(header, ""))
        if match:
            return f"application/vnd.elasticsearch+json;compatible-with={match[1]}"
    return "application/json"


def check_body_media_type(request: web.Request) -> None:
    """Bulk bodies are NDJSON whatever JSON flavour is declared; other media types are refused."""
    declared = request.headers.get("Content-Type")
    if declared is not None and request.content_type not in _BODY_MEDIA:
        raise UnsupportedMediaTypeError(f"Content-Type header [{declared}] is not supported")


def authenticated(request: web.Request) -> Principal:
    """Any valid token: probes and set-up calls need no particular role."""
    return authenticate(request.app[TOKENS], request.headers)


def filter_path(data: Any, spec: str) -> Any:
    """Keep what the comma-separated dotted patterns name (`*` within a name, `**` any depth)."""
    patterns = [tuple(p.split(".")) for p in spec.split(",") if p.strip() and not p.startswith("-")]
    if not patterns:
        return data
    kept = _filter(data, patterns)
    return {} if kept is _GONE else kept


def _filter(value: Any, patterns: list[tuple[str, ...]]) -> Any:
    if any(not p for p in patterns):
        return value  # a pattern ends here: the whole subtree is kept
    if isinstance(value, list):
        kept_items = [kept for kept in (_filter(v, patterns) for v in value) if kept is not _GONE]
        return kept_items or _GONE
    if not isinstance(value, dict):
        return _GONE
    out = {}
    for key, sub in value.items():
        rest = [r for p in patterns for r in _advance(p, key)]
        if rest:
            kept = _filter(sub, rest)
            if kept is not _GONE:
                out[key] = kept
    return out or _GONE


def _advance(pattern: tuple[str, ...], key: str) -> list[tuple[str, ...]]:
    head = pattern[0]
    if head == "**":
        deeper = [pattern]
        if len(pattern) == 1:
            return [*deeper, ()]
        return deeper + ([pattern[2:]] if _name_pattern(pattern[1]).fullmatch(key) else [])
    return [pattern[1:]] if _name_pattern(head).fullmatch(key) else []


@lru_cache(maxsize=256)
def _name_pattern(part: str) -> re.Pattern[str]:
    # Only `*` is a wildcard in filter_path; everything else is literal.
    return re.compile(".*".join(re.escape(piece) for piece in part.split("*")))
