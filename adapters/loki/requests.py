"""What every Loki handler starts from: its parameters (URL and form), the caller, the engine."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from logriver.adapters.loki.logql_ast import LogQuery
from logriver.adapters.loki.logql_eval import LogQLEngine
from logriver.adapters.loki.logql_lexer import LogQLError
from logriver.adapters.loki.logql_parser import parse_logql
from logriver.core.auth import Principal
from logriver.core.body import check_content_encoding
from logriver.core.errors import BadRequestError, ForbiddenError
from logriver.core.web import SETTINGS, principal, read_body
from logriver.services import SERVICES

FORM = "application/x-www-form-urlencoded"
ENGINE = web.AppKey("logql_engine", LogQLEngine)


async def request_params(request: web.Request) -> MultiDictProxy[str]:
    """The URL's parameters and, for POST, the form body's (Loki accepts both)."""
    merged: MultiDict[str] = MultiDict(request.query)
    if request.method == "POST":
        form = await _form(request)
        for key, value in form:
            if isinstance(value, str):
                merged.add(key, value)
    return MultiDictProxy(merged)


async def _form(request: web.Request) -> Iterable[tuple[str, object]]:
    """The form body; a compressed one is inflated by the service (core/body.py), not by aiohttp."""
    if not check_content_encoding(request.headers.get("Content-Encoding", "")):
        return (await request.post()).items()
    raw = await read_body(request, request.app[SETTINGS])
    if request.content_type != FORM:
        return []  # as `post()` reads any other type: no form fields
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise BadRequestError("the form body is not UTF-8", {"header": "Content-Type"}) from None
    return parse_qsl(text, keep_blank_values=True)


def caller(request: web.Request) -> Principal:
    """The token's principal; a Loki tenant header naming another tenant is refused, never followed."""
    who = principal(request, "read")
    org = request.headers.get("X-Scope-OrgID", "").strip()
    if org and org != who.tenant:
        raise ForbiddenError(
            f"X-Scope-OrgID names tenant {org!r} but the token belongs to {who.tenant!r}; the token decides the tenant",
            {"header": "X-Scope-OrgID"},
        )
    return who


def now_ns(request: web.Request) -> int:
    return request.app[SERVICES].storage.clock.now_ns()


def selector_query(text: str, name: str = "query") -> LogQuery:
    """A parameter that must be a log query (a selector, perhaps with stages)."""
    expr = parse_logql(text)
    if not isinstance(expr, LogQuery):
        raise LogQLError(
            f'{name} must be a stream selector such as {{job="x"}}, not a metric query', {"parameter": name}
        )
    return expr
