"""`GET /metrics` and the request-duration middleware, over the `Metrics` of core/metrics.py.

Who may scrape is the `metrics_access` setting: `loopback` (the default) serves a peer on the
loopback interface as it is and anyone else only with `Authorization: Bearer <metrics_token>`;
`token` asks everyone for the token; `open` serves anyone. The peer is the TCP peer: behind a
reverse proxy on the same host every request comes from loopback, so such a setup uses `token`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time

from aiohttp import web
from aiohttp.typedefs import Middleware

from logriver.core.auth import token_from_headers
from logriver.core.errors import ForbiddenError, UnauthorizedError
from logriver.core.metrics import CONTENT_TYPE, UNMATCHED_ROUTE, Metrics
from logriver.core.settings import Settings
from logriver.core.web import SETTINGS, Handler

METRICS = web.AppKey("metrics", Metrics)
# The API family an application belongs to, for the `family` label; set where families are mounted.
FAMILY = web.AppKey("family", str)
CLIENT_CLOSED = 499  # the `code` of a request whose client went away before its answer (nginx's number)


async def metrics_handler(request: web.Request) -> web.Response:
    check_metrics_access(request, request.app[SETTINGS])
    # Several workers: reading their files is blocking disk work, kept off the event loop.
    body = await asyncio.to_thread(request.app[METRICS].exposition)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def check_metrics_access(request: web.Request, settings: Settings) -> None:
    """Raise 401/403 unless `metrics_access` lets this peer read the metrics."""
    if settings.metrics_access == "open" or (settings.metrics_access == "loopback" and _from_loopback(request)):
        return
    if not settings.metrics_token:
        raise ForbiddenError(
            "metrics are served to loopback peers only; set LOGRIVER_METRICS_TOKEN to let scrapers elsewhere "
            "send it as a bearer token (docs/metrics.md)"
        )
    token = token_from_headers(request.headers)
    if token is None:
        raise UnauthorizedError("metrics need credentials: send Authorization: Bearer <LOGRIVER_METRICS_TOKEN>")
    if not hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
        raise UnauthorizedError("not the metrics token (LOGRIVER_METRICS_TOKEN)", type="invalid_credentials")


def _from_loopback(request: web.Request) -> bool:
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    if not isinstance(peer, tuple) or not peer:
        return False  # a Unix socket or an unknown peer is not assumed to be local
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def request_metrics_middleware(metrics: Metrics) -> Middleware:
    """Time every request, labelled by family, route template and final status; never by raw path."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        code = 500
        try:
            response = await handler(request)
            code = response.status
            return response
        except web.HTTPException as exc:
            code = exc.status
            raise
        except asyncio.CancelledError:
            code = CLIENT_CLOSED
            raise
        finally:
            metrics.observe_request(family_of(request), route_of(request), code, time.perf_counter() - started)

    return observe


def route_of(request: web.Request) -> str:
    """The matched route's template (`/api/v1/lines`, `/es/{index}/_bulk`), or one value for no match."""
    match = request.match_info
    if match.http_exception is not None or match.route.resource is None:
        return UNMATCHED_ROUTE
    return match.route.resource.canonical


def family_of(request: web.Request) -> str:
    """The family of the innermost application that answered."""
    for app in reversed(request.match_info.apps):
        if FAMILY in app:
            return app[FAMILY]
    return "root"
