"""Builds the services once and mounts every API family on them, each under the paths it owns.

Each family is an aiohttp sub-application with its own error middleware, so every answer under
its paths, unknown paths and wrong methods included, is in its envelope. Paths outside every
family get the native envelope, or the Elasticsearch one when that surface is mounted at `/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from logriver.adapters.abeja import ABEJA_PREFIX, abeja_app
from logriver.adapters.escompat.routes import escompat_app, escompat_prefix
from logriver.adapters.iceprod import iceprod_apps
from logriver.adapters.loki.envelope import LOKI_PREFIX, loki_app
from logriver.adapters.loki.push_routes import PUSH_PREFIX, loki_push_app
from logriver.adapters.loki.query_routes import add_query_routes
from logriver.adapters.modelarts import MODELARTS_PREFIX, modelarts_app
from logriver.adapters.otlp.routes import otlp_apps
from logriver.adapters.scale import scale_apps
from logriver.core.accesslog import AccessLogger
from logriver.core.admission import Admission
from logriver.core.auth import TokenStore
from logriver.core.cors import setup_cors
from logriver.core.metrics_web import FAMILY, METRICS, metrics_handler, request_metrics_middleware
from logriver.core.settings import Settings
from logriver.core.web import (
    ADMISSION,
    add_worker_header,
    admission_middleware,
    family_app,
    json_response,
    native_error_response,
)
from logriver.native import NATIVE_PREFIX, native_app
from logriver.openapi import setup_openapi
from logriver.services import SERVICES, Services, build_services, services_ctx
from logriver.viewer import setup_viewer

# How every server of the app is made: `logriver serve`, its workers and the tests' servers. The
# service inflates request bodies itself (core/body.py): aiohttp's inflation, on a broken body,
# failed again after the handler's 400 and dropped the connection instead of answering. The
# access log is core/accesslog.py's, cheaper than aiohttp's for the same line.
SERVER_OPTIONS: Mapping[str, Any] = MappingProxyType({"auto_decompress": False, "access_log_class": AccessLogger})

# Sees (mount prefix, family application) before the family is mounted; see create_app.
FamilyHook = Callable[[str, web.Application], None]


async def healthz_handler(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if services.storage.ready:
        return json_response({"status": "ready"})
    return json_response(
        {"status": "not_ready", "reason": "storage unreachable or templates not installed"},
        503,
        {"Retry-After": str(services.settings.retry_after_seconds)},
    )


async def _end_tails(app: web.Application) -> None:
    # On shutdown the server waits for open handlers: end the streams so it need not.
    app[SERVICES].tail_hub.close()


def create_app(
    settings: Settings, tokens: TokenStore, es_url: str, *, extend_family: FamilyHook | None = None
) -> web.Application:
    """The whole service; storage is opened on start-up and closed on clean-up.

    `extend_family(prefix, app)` sees each family's application before it is mounted and frozen,
    to add routes that answer in that family's envelope (the root is passed as `/`).
    """
    services = build_services(settings, tokens, es_url)
    es_prefix = escompat_prefix(settings)
    # Mounted at `/`, the Elasticsearch surface is the root application itself: aiohttp nests
    # sub-applications only under a non-empty prefix, and its catch-all then answers what no
    # other family owns, as Elasticsearch would.
    root = escompat_app(services) if es_prefix == "" else family_app(settings, tokens, native_error_response)
    root[SERVICES] = services
    root[METRICS] = services.metrics
    root[FAMILY] = "es" if es_prefix == "" else "root"
    # Outermost: the bytes a write was admitted for are given back after its family answered.
    root.middlewares.insert(0, admission_middleware)
    # Outside even that: a request's duration includes giving its bytes back.
    root.middlewares.insert(0, request_metrics_middleware(services.metrics))
    root[ADMISSION] = Admission(settings.max_inflight_bytes, settings.admission_wait_seconds, services.metrics)
    root.cleanup_ctx.append(services_ctx(services))
    root.on_response_prepare.append(add_worker_header)
    root.on_shutdown.append(_end_tails)
    root.router.add_get("/healthz", healthz_handler)
    root.router.add_get("/readyz", readyz_handler)
    root.router.add_get("/metrics", metrics_handler)
    for prefix, (name, family) in _families(services, es_prefix).items():
        family[FAMILY] = name
        if extend_family is not None:
            extend_family(prefix, family)
        root.add_subapp(prefix, family)
    if extend_family is not None:
        extend_family("/", root)
    setup_viewer(root)
    # Last: it adds its headers as any answer goes out, sub-applications' included.
    setup_cors(root, settings.cors_origins)
    return root


def _families(services: Services, es_prefix: str | None) -> dict[str, tuple[str, web.Application]]:
    """Each family's name and application by the path prefix it owns; a family may own several.

    The name is the `family` label of the request metrics (docs/metrics.md).
    """
    native = native_app(services)
    setup_openapi(native)
    loki = loki_app(services)
    add_query_routes(loki, services)
    families = {
        NATIVE_PREFIX: ("native", native),
        MODELARTS_PREFIX: ("modelarts", modelarts_app(services)),
        ABEJA_PREFIX: ("abeja", abeja_app(services)),
        LOKI_PREFIX: ("loki", loki),
        **_named("iceprod", iceprod_apps(services)),
        **_named("scale", scale_apps(services)),
        **_named("otlp", otlp_apps(services)),
        # Loki answers pushes in plain text and queries in JSON: the push route is a family of its
        # own, mounted at its full path so that it wins over the query family's /loki prefix.
        PUSH_PREFIX: ("loki_push", loki_push_app(services)),
    }
    if es_prefix:
        families[es_prefix] = ("es", escompat_app(services))
    return families


def _named(name: str, apps: dict[str, web.Application]) -> dict[str, tuple[str, web.Application]]:
    return {prefix: (name, app) for prefix, app in apps.items()}
