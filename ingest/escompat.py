"""The Elasticsearch-compatible surface: shippers and Elastic clients write lines as if to Elasticsearch.

Mounted under `es_compat_prefix` (default `/es`). Every answer of the surface, errors included,
carries `X-Elastic-Product: Elasticsearch`: official clients and Logstash refuse servers without it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from logriver.core.errors import NotFoundError, ValidationError
from logriver.core.web import SETTINGS, principal, read_body, with_renderer
from logriver.ingest.escompat_bulk import BulkRequest, BulkService
from logriver.ingest.escompat_probes import (
    SETUP_OBJECTS,
    cat_health_handler,
    cluster_health_handler,
    create_index_handler,
    license_handler,
    nodes_handler,
    root_handler,
    setup_handler,
    xpack_handler,
)
from logriver.ingest.escompat_web import (
    PRODUCT,
    PRODUCT_HEADER,
    check_body_media_type,
    es_error_response,
    es_json,
)
from logriver.ingest.handlers import WRITER

BULK = web.AppKey("es_bulk", BulkService)
_INDEX = r"{index:[^_/][^/]*}"  # Elasticsearch index names never start with `_`


@with_renderer(es_error_response)
async def bulk_handler(request: web.Request) -> web.Response:
    """`POST|PUT [/{index}]/_bulk`: one item per action, in order, each with its own status."""
    caller = principal(request, "write")
    check_body_media_type(request)
    body = await read_body(request, request.app[SETTINGS])  # aiohttp has inflated gzip already
    bulk = BulkRequest(caller.tenant, body, request.match_info.get("index"), wants_refresh(request))
    return es_json(request, await request.app[BULK].run(bulk))


def wants_refresh(request: web.Request) -> bool:
    """Elasticsearch's `refresh`: empty, `true` or `wait_for` make the lines searchable before answering."""
    value = request.query.get("refresh", "false").lower()
    if value not in ("", "true", "false", "wait_for"):
        raise ValidationError(
            f"refresh must be true, false or wait_for, got [{value}]", type="illegal_argument_exception"
        )
    return value != "false"


@with_renderer(es_error_response)
async def no_handler(request: web.Request) -> web.Response:
    raise NotFoundError(
        f"no handler found for uri [{request.path}] and method [{request.method}]; logriver answers "
        "bulk writes and the start-up calls of log shippers",
        type="no_handler_found_exception",
    )


def _product_header(prefix: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add_header(request: web.Request, response: web.StreamResponse) -> None:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            response.headers[PRODUCT_HEADER] = PRODUCT

    return add_header


def setup_escompat(app: web.Application) -> None:
    """Register the surface under `es_compat_prefix` (`/` is the root); an empty prefix leaves it off."""
    configured = app[SETTINGS].es_compat_prefix.strip()
    if not configured:
        return
    prefix = "/" + configured.strip("/") if configured.strip("/") else ""
    app[BULK] = BulkService(app[WRITER], app[SETTINGS])
    app.on_response_prepare.append(_product_header(prefix))
    router = app.router
    for path in (f"{prefix}/_bulk", f"{prefix}/{_INDEX}/_bulk"):
        router.add_post(path, bulk_handler)
        router.add_put(path, bulk_handler)
    router.add_get(prefix or "/", root_handler)
    if prefix:
        router.add_get(prefix + "/", root_handler)
    router.add_get(f"{prefix}/_license", license_handler)
    router.add_get(f"{prefix}/_xpack", xpack_handler)
    router.add_get(f"{prefix}/_cluster/health", cluster_health_handler)
    router.add_get(f"{prefix}/_cluster/health/{{index}}", cluster_health_handler)
    router.add_get(f"{prefix}/_cat/health", cat_health_handler)
    router.add_get(f"{prefix}/_nodes", nodes_handler)
    router.add_get(f"{prefix}/_nodes/{{selector:.*}}", nodes_handler)
    for kind in SETUP_OBJECTS:
        handler = setup_handler(kind)
        for path in (f"{prefix}/{kind}", f"{prefix}/{kind}/{{name}}"):
            router.add_get(path, handler)  # HEAD comes with GET
            for method in ("PUT", "POST", "DELETE"):
                router.add_route(method, path, handler)
    router.add_put(f"{prefix}/{_INDEX}", create_index_handler)
    router.add_route("*", f"{prefix}/{{tail:.*}}", no_handler)
