"""The Elasticsearch-compatible surface: shippers and Elastic clients write lines as if to Elasticsearch.

Mounted under `es_compat_prefix` (default `/es`). Every answer of the surface, errors included,
carries `X-Elastic-Product: Elasticsearch`: official clients and Logstash refuse servers without it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from logriver.adapters.escompat.bulk import BulkRequest
from logriver.adapters.escompat.probes import (
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
from logriver.adapters.escompat.web import (
    PRODUCT,
    PRODUCT_HEADER,
    check_body_media_type,
    es_error_response,
    es_json,
)
from logriver.core.metrics import ProtocolMetrics
from logriver.core.params import wants_refresh
from logriver.core.settings import Settings
from logriver.core.web import SETTINGS, family_app, principal, read_body
from logriver.services import SERVICES, Services

_INDEX = r"{index:[^_/][^/]*}"  # Elasticsearch index names never start with `_`


async def bulk_handler(request: web.Request) -> web.Response:
    """`POST|PUT [/{index}]/_bulk`: one item per action, in order, each with its own status."""
    caller = principal(request, "write")
    check_body_media_type(request)
    body = await read_body(request, request.app[SETTINGS])  # gzip inflated already
    bulk = BulkRequest(caller.tenant, body, request.match_info.get("index"), wants_refresh(request.query))
    answer = await request.app[SERVICES].bulk.run(bulk)
    _count(request.app[SERVICES].metrics.protocol("es_bulk"), answer["items"], len(body))
    return es_json(request, answer)


def _count(counts: ProtocolMetrics, items: list[dict[str, Any]], body_bytes: int) -> None:
    """Every action is a line received; an item with an error is a line rejected, by the error's type."""
    counts.received(len(items), body_bytes)
    results = (next(iter(item.values())) for item in items)
    counts.rejected(result["error"]["type"] for result in results if "error" in result)


async def _product_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[PRODUCT_HEADER] = PRODUCT


def escompat_prefix(settings: Settings) -> str | None:
    """Where the surface is mounted: `/es`-like, `""` for the root, None when turned off."""
    configured = settings.es_compat_prefix.strip()
    if not configured:
        return None
    return "/" + configured.strip("/") if configured.strip("/") else ""


def escompat_app(services: Services) -> web.Application:
    """The surface's routes, relative to `escompat_prefix`; every answer carries the product header."""
    app = family_app(services.settings, services.tokens, es_error_response)
    app[SERVICES] = services
    app.on_response_prepare.append(_product_header)
    router = app.router
    for path in ("/_bulk", f"/{_INDEX}/_bulk"):
        router.add_post(path, bulk_handler)
        router.add_put(path, bulk_handler)
    router.add_get("/", root_handler)
    if escompat_prefix(services.settings):
        router.add_get("", root_handler)  # the prefix itself, without a slash
    router.add_get("/_license", license_handler)
    router.add_get("/_xpack", xpack_handler)
    router.add_get("/_cluster/health", cluster_health_handler)
    router.add_get("/_cluster/health/{index}", cluster_health_handler)
    router.add_get("/_cat/health", cat_health_handler)
    router.add_get("/_nodes", nodes_handler)
    router.add_get("/_nodes/{selector:.*}", nodes_handler)
    for kind in SETUP_OBJECTS:
        handler = setup_handler(kind)
        for path in (f"/{kind}", f"/{kind}/{{name}}"):
            router.add_get(path, handler)  # HEAD comes with GET
            for method in ("PUT", "POST", "DELETE"):
                router.add_route(method, path, handler)
    router.add_put(f"/{_INDEX}", create_index_handler)
    return app
