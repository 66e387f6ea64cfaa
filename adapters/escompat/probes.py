"""The calls shippers make before they write: version, license, health, nodes and set-up of templates.

Set-up calls (templates, ILM policies, ingest pipelines, data streams) are acknowledged and their
objects reported as present, so shippers neither fail nor retry their start-up; nothing is stored.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from logriver.adapters.escompat.web import authenticated, es_json
from logriver.core.params import refuse_unknown
from logriver.core.web import SETTINGS
from logriver.services import SERVICES

NAME = "logriver"
TAGLINE = "You Know, for Search"
BUILD_DATE = "2024-01-01T00:00:00.000Z"


def _uid(request: web.Request, salt: str) -> str:
    """Stable ids for this deployment (a cluster uuid, a node id), derived from its index prefix."""
    digest = hashlib.blake2b(f"{salt}:{request.app[SETTINGS].index_prefix}".encode(), digest_size=16).hexdigest()
    return digest[:22]


def _version(request: web.Request) -> dict[str, Any]:
    return {
        "number": request.app[SETTINGS].es_compat_version,
        "build_flavor": "default",  # Beats treat "serverless" and "oss" flavours differently
        "build_type": "docker",
        "build_hash": _uid(request, "build"),
        "build_date": BUILD_DATE,
        "build_snapshot": False,
        "lucene_version": "9.12.0",
        "minimum_wire_compatibility_version": "7.17.0",
        "minimum_index_compatibility_version": "7.0.0",
    }


async def root_handler(request: web.Request) -> web.Response:
    """`HEAD /` (Logstash's liveness probe) and `GET /` (the version every shipper reads)."""
    authenticated(request)
    body = {
        "name": NAME,
        "cluster_name": NAME,
        "cluster_uuid": _uid(request, "cluster"),
        "version": _version(request),
        "tagline": TAGLINE,
    }
    return es_json(request, body)


async def license_handler(request: web.Request) -> web.Response:
    """An active license: Logstash marks a node dead otherwise."""
    authenticated(request)
    return es_json(request, {"license": _license(request)})


def _license(request: web.Request) -> dict[str, Any]:
    return {
        "status": "active",
        "uid": _uid(request, "license"),
        "type": "basic",
        "issue_date": BUILD_DATE,
        "issue_date_in_millis": 1704067200000,
        "max_nodes": 1000,
        "max_resource_units": None,
        "issued_to": NAME,
        "issuer": "elasticsearch",
        "start_date_in_millis": -1,
    }


async def xpack_handler(request: web.Request) -> web.Response:
    authenticated(request)
    license = _license(request)
    body = {
        "build": {"hash": _uid(request, "build"), "date": BUILD_DATE},
        "license": {"uid": license["uid"], "type": "basic", "mode": "basic", "status": "active"},
        "features": {},
    }
    return es_json(request, body)


def _health(request: web.Request) -> dict[str, Any]:
    # Elasticsearch answers 200 even when red; shippers probe for the status code only.
    return {
        "cluster_name": NAME,
        "status": "green" if request.app[SERVICES].storage.ready else "red",
        "timed_out": False,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0,
    }


async def cluster_health_handler(request: web.Request) -> web.Response:
    """Vector's health check."""
    authenticated(request)
    return es_json(request, _health(request))


async def cat_health_handler(request: web.Request) -> web.Response:
    """rsyslog's health check: a text table, or JSON with `format=json`."""
    authenticated(request)
    health = _health(request)
    now = time.time()
    row = {
        "epoch": str(int(now)),
        "timestamp": time.strftime("%H:%M:%S", time.gmtime(now)),
        "cluster": NAME,
        "status": health["status"],
        "node.total": "1",
        "node.data": "1",
        "shards": "0",
        "pri": "0",
        "relo": "0",
        "init": "0",
        "unassign": "0",
        "pending_tasks": "0",
        "max_task_wait_time": "-",
        "active_shards_percent": "100.0%",
    }
    if request.query.get("format") == "json":
        return es_json(request, [row])
    lines = ([" ".join(row)] if "v" in request.query else []) + [" ".join(row.values())]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


async def nodes_handler(request: web.Request) -> web.Response:
    """One node at the address the client used (sniffing clients must still keep the path prefix)."""
    authenticated(request)
    address = request.host
    node = {
        "name": NAME,
        "transport_address": address,
        "host": request.url.host or address,
        "ip": request.url.host or address,
        "version": request.app[SETTINGS].es_compat_version,
        "build_flavor": "default",
        "build_type": "docker",
        "build_hash": _uid(request, "build"),
        "roles": ["data", "ingest", "master"],
        "attributes": {},
        "http": {
            "bound_address": [address],
            "publish_address": address,
            "max_content_length_in_bytes": request.app[SETTINGS].max_request_bytes,
        },
    }
    body = {
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": NAME,
        "nodes": {_uid(request, "node"): node},
    }
    return es_json(request, body)


# What Elasticsearch's delete calls of set-up objects take, its common parameters included.
DELETE_PARAMS = ("master_timeout", "timeout", "error_trace", "filter_path", "human", "pretty")

# What GET answers for a named set-up object, and for the list of them.
SETUP_OBJECTS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "_index_template": (
        lambda n: {
            "index_templates": [{"name": n, "index_template": {"index_patterns": [f"{n}*"], "composed_of": []}}]
        },
        {"index_templates": []},
    ),
    "_component_template": (
        lambda n: {"component_templates": [{"name": n, "component_template": {"template": {}}}]},
        {"component_templates": []},
    ),
    "_template": (
        lambda n: {n: {"order": 0, "index_patterns": [f"{n}*"], "settings": {}, "mappings": {}, "aliases": {}}},
        {},
    ),
    "_ilm/policy": (lambda n: {n: {"version": 1, "modified_date": BUILD_DATE, "policy": {"phases": {}}}}, {}),
    "_ingest/pipeline": (lambda n: {n: {"description": "accepted by logriver, not run", "processors": []}}, {}),
    "_data_stream": (
        lambda n: {
            "data_streams": [
                {
                    "name": n,
                    "timestamp_field": {"name": "@timestamp"},
                    "indices": [],
                    "generation": 1,
                    "status": "GREEN",
                    "template": n,
                }
            ]
        },
        {"data_streams": []},
    ),
    "_alias": (lambda n: {}, {}),
}


def setup_handler(kind: str) -> Callable[[web.Request], Any]:
    """HEAD/GET report the object as present; PUT/POST/DELETE acknowledge without storing anything."""
    named, listing = SETUP_OBJECTS[kind]

    async def handler(request: web.Request) -> web.Response:
        authenticated(request)
        if request.method == "DELETE":
            refuse_unknown(
                request.query.keys(),
                DELETE_PARAMS,
                f"DELETE {request.path}",
                type="illegal_argument_exception",
            )
        if request.method in ("GET", "HEAD"):
            name = request.match_info.get("name")
            return es_json(request, named(name) if name else listing)
        return es_json(request, {"acknowledged": True})

    return handler


async def create_index_handler(request: web.Request) -> web.Response:
    """`PUT /{index}`: Logstash's ILM bootstrap creates its first index; lines need none."""
    authenticated(request)
    return es_json(request, {"acknowledged": True, "shards_acknowledged": True, "index": request.match_info["index"]})
