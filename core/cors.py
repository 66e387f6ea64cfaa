"""Cross-origin access for viewers hosted elsewhere, from ``LOGRIVER_CORS_ORIGINS``."""

from __future__ import annotations

from aiohttp import web

from logriver.core.web import Handler

ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, X-Auth-Token, Content-Type, Content-Encoding, Last-Event-ID"
# Read by clients: Retry-After on 429/503/504, Content-Type to tell JSON errors from bodies.
EXPOSED_HEADERS = "Retry-After, Content-Type"
PREFLIGHT_MAX_AGE = "600"


class CorsPolicy:
    """Which origins may call the API; an empty policy adds nothing to any response."""

    def __init__(self, origins: str):
        self.origins = frozenset(o.strip().rstrip("/") for o in origins.split(",") if o.strip())

    def allows(self, origin: str | None) -> bool:
        return origin is not None and ("*" in self.origins or origin in self.origins)

    @web.middleware
    async def preflight_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer preflights before routing, which would call them 405: no route declares OPTIONS."""
        is_preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        if not is_preflight or not self.allows(request.headers.get("Origin")):
            return await handler(request)
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            },
        )

    async def add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """Runs as responses are prepared, so errors and streamed bodies (the tail) get it too."""
        origin = request.headers.get("Origin")
        if not self.allows(origin):
            return
        assert origin is not None
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.headers.add("Vary", "Origin")


def setup_cors(app: web.Application, origins: str) -> None:
    """Install the policy; with no origins configured the app is left as it was."""
    policy = CorsPolicy(origins)
    if not policy.origins:
        return
    app.middlewares.append(policy.preflight_middleware)
    app.on_response_prepare.append(policy.add_headers)
