"""What every Loki handler starts from: its parameters (URL and form), the caller, the engine."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from logriver.adapters.loki.logql_ast import LogQuery
from logriver.adapters.loki.logql_eval import LogQLEngine
from logriver.adapters.loki.logql_lexer import LogQLError
from logriver.adapters.loki.logql_parser import parse_logql
from logriver.core.auth import Principal
from logriver.core.errors import ForbiddenError
from logriver.core.web import principal
from logriver.services import SERVICES

ENGINE = web.AppKey("logql_engine", LogQLEngine)


async def request_params(request: web.Request) -> MultiDictProxy[str]:
    """The URL's parameters and, for POST, the form body's (Loki accepts both)."""
    merged: MultiDict[str] = MultiDict(request.query)
    if request.method == "POST":
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                merged.add(key, value)
    return MultiDictProxy(merged)


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
