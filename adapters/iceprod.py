"""IceProd "REST API - Logs": log entries per dataset and task, over the line services.

Entries are streams (see adapters.iceprod_entries); errors are `{"code", "error"}` and every
authentication failure is 403, as IceProd answers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from logriver.adapters.iceprod_entries import LOG_ID_LABEL, Entry, EntryStore
from logriver.adapters.iceprod_params import load_list_params, load_new_entry, load_task_params
from logriver.core.auth import Principal
from logriver.core.errors import (
    ForbiddenError,
    IncompleteDeletionError,
    LogriverError,
    NotFoundError,
    UnauthorizedError,
)
from logriver.core.jsonload import load_json
from logriver.core.params import refuse_unknown
from logriver.core.web import (
    SETTINGS,
    family_app,
    json_response,
    principal,
    read_body,
    read_json,
    retry_headers,
    stream_body,
)
from logriver.ingest.registry import delete_fully
from logriver.services import SERVICES, Services

JSON = "application/json"
NDJSON = "application/x-ndjson"


def iceprod_error(error: LogriverError, request: web.Request) -> web.Response:
    """IceProd's error envelope."""
    return json_response({"code": error.status, "error": error.message}, error.status, retry_headers(error, request))


def _caller(request: web.Request, role: str) -> Principal:
    # IceProd answers 403 to every authentication failure, a missing token included.
    try:
        return principal(request, role)
    except UnauthorizedError as error:
        raise ForbiddenError(f"authentication failed: {error.message}") from None


def _wanted(key: str, keys: frozenset[str] | None) -> bool:
    return keys is None or key in keys


async def entry_json(
    store: EntryStore, tenant: str, entry: Entry, keys: frozenset[str] | None
) -> AsyncGenerator[bytes, None]:
    """One entry as a JSON object, `data` streamed piece by piece."""
    items = [orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in entry.document().items() if _wanted(k, keys)]
    yield b"{" + b",".join(items)
    if _wanted("data", keys):
        yield (b"," if items else b"") + b'"data":"'
        async for text in store.data(tenant, entry):
            yield orjson.dumps(text)[1:-1]  # escaping is per character, so pieces concatenate
        yield b'"'
    yield b"}"


async def entries_json(
    store: EntryStore,
    tenant: str,
    entries: tuple[Entry, AsyncIterator[Entry]],
    keys: frozenset[str] | None,
    *,
    limit: int,
    by_log_id: bool,
) -> AsyncGenerator[bytes, None]:
    """`{"<log_id>": {...}, ...}` when by_log_id, else `{"logs": [...]}`; at most `limit` (0: all).

    `entries` is the first entry, already fetched, and the iterator of those after it.
    """
    entry: Entry | None
    entry, rest = entries
    yield b"{" if by_log_id else b'{"logs":['
    count = 0
    while entry is not None and (not limit or count < limit):
        yield (b"," if count else b"") + (orjson.dumps(entry.log_id) + b":" if by_log_id else b"")
        async for chunk in entry_json(store, tenant, entry, keys):
            yield chunk
        count += 1
        entry = await anext(rest, None)
    yield b"}" if by_log_id else b"]}"


async def first_per_name(entries: AsyncIterator[Entry]) -> AsyncIterator[Entry]:
    """`group=true`: the first entry of each name, in the order given."""
    seen: set[Any] = set()
    async for entry in entries:
        name = entry.body.get("name")
        if name not in seen:
            seen.add(name)
            yield entry


async def progress_lines(
    first: dict[str, Any], rest: AsyncIterator[dict[str, Any]], total: int
) -> AsyncGenerator[bytes, None]:
    """The registry's deletion progress in IceProd's shape, one JSON document per line.

    `percent_complete` follows the lines deleted; `total` counts entries, as IceProd's does.
    """
    update: dict[str, Any] | None = first
    try:
        while update is not None:
            yield orjson.dumps(_iceprod_progress(update, total)) + b"\n"
            update = await anext(rest, None)
    except LogriverError as error:
        yield orjson.dumps({"status": "failed", "code": error.status, "error": error.message}) + b"\n"


def _iceprod_progress(update: dict[str, Any], total: int) -> dict[str, Any]:
    if update["status"] == "complete":
        return {"status": "complete", "percent_complete": 100.0}
    if update["status"] == "failed":
        error = IncompleteDeletionError(update["error"]["message"])
        return {"status": "failed", "code": error.status, "error": error.message, **_percent(update, total)}
    return {"status": "deleting", **_percent(update, total)}


def _percent(update: dict[str, Any], total: int) -> dict[str, Any]:
    return {"percent_complete": float(update["percent_complete"]), "total": total}


async def _delete_all(request: web.Request, tenant: str, filters: dict[str, str]) -> None:
    refuse_unknown(request.query.keys(), (), f"DELETE {request.path}", type="invalid_parameter")
    await delete_fully(request.app[SERVICES].entries.delete(tenant, filters))


async def post_logs_handler(request: web.Request) -> web.Response:
    caller = _caller(request, "admin")
    return await _create_entry(request, caller, default_name="log")


async def _create_entry(request: web.Request, caller: Principal, **where: str) -> web.Response:
    """Store one new entry; for the metrics an entry is one line received, whatever its size."""
    raw = await read_body(request, request.app[SETTINGS])
    body, data = load_new_entry(load_json(raw) if raw.strip() else None, request.app[SETTINGS], **where)
    services = request.app[SERVICES]
    services.metrics.protocol("iceprod").received(1, len(raw))
    entry = await services.entries.create(caller.tenant, body, data)
    return json_response({"result": entry.log_id}, 201)


async def get_logs_handler(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, "admin")
    params = load_list_params(request.query, await read_json(request))
    store = request.app[SERVICES].entries
    entries = store.entries(caller.tenant, params.filters, params.start_ns, params.end_ns)
    first = await anext(entries, None)  # storage errors before the status line keep their status
    if first is None:
        return json_response({})
    chunks = entries_json(store, caller.tenant, (first, entries), params.keys, limit=params.limit, by_log_id=True)
    return await stream_body(request, chunks, JSON)


async def _entry_response(request: web.Request, tenant: str, entry: Entry | None) -> web.StreamResponse:
    if entry is None:
        raise NotFoundError("Log not found")
    return await stream_body(request, entry_json(request.app[SERVICES].entries, tenant, entry, None), JSON)


async def get_log_handler(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, "admin")
    entry = await request.app[SERVICES].entries.find(caller.tenant, request.match_info["log_id"])
    return await _entry_response(request, caller.tenant, entry)


async def delete_log_handler(request: web.Request) -> web.Response:
    caller = _caller(request, "admin")
    await _delete_all(request, caller.tenant, {LOG_ID_LABEL: request.match_info["log_id"]})
    return json_response({})


async def post_dataset_logs_handler(request: web.Request) -> web.Response:
    caller = _caller(request, "write")
    return await _create_entry(request, caller, dataset_id=request.match_info["dataset_id"])


async def delete_dataset_logs_handler(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, "write")
    refuse_unknown(request.query.keys(), (), f"DELETE {request.path}", type="invalid_parameter")
    store, filters = request.app[SERVICES].entries, {"dataset_id": request.match_info["dataset_id"]}
    total = await store.count(caller.tenant, filters)
    progress = store.delete(caller.tenant, filters)
    first = await anext(progress)  # storage errors before the status line keep their status
    return await stream_body(request, progress_lines(first, progress, total), NDJSON, coalesce=False)


async def get_dataset_log_handler(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, "read")
    match = request.match_info
    entry = await request.app[SERVICES].entries.find(caller.tenant, match["log_id"], dataset_id=match["dataset_id"])
    return await _entry_response(request, caller.tenant, entry)


async def get_task_logs_handler(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, "read")
    params = load_task_params(request.query)
    store = request.app[SERVICES].entries
    filters = {"dataset_id": request.match_info["dataset_id"], "task_id": request.match_info["task_id"]}
    entries = store.entries(caller.tenant, filters, order=params.order)
    if params.group:
        entries = first_per_name(entries)
    first = await anext(entries, None)
    if first is None:
        raise NotFoundError("Log not found")
    chunks = entries_json(store, caller.tenant, (first, entries), params.keys, limit=params.num, by_log_id=False)
    return await stream_body(request, chunks, JSON)


async def delete_task_logs_handler(request: web.Request) -> web.Response:
    caller = _caller(request, "write")
    filters = {"dataset_id": request.match_info["dataset_id"], "task_id": request.match_info["task_id"]}
    await _delete_all(request, caller.tenant, filters)
    return json_response({})


def iceprod_apps(services: Services) -> dict[str, web.Application]:
    """IceProd's routes share no prefix: one application for `/logs`, one for `/datasets`, one envelope.

    Ids match `\\w+` as in IceProd's router.
    """
    logs, datasets = _iceprod_app(services), _iceprod_app(services)
    logs.router.add_get("", get_logs_handler)
    logs.router.add_post("", post_logs_handler)
    logs.router.add_get(r"/{log_id:\w+}", get_log_handler)
    logs.router.add_delete(r"/{log_id:\w+}", delete_log_handler)
    datasets.router.add_post(r"/{dataset_id:\w+}/logs", post_dataset_logs_handler)
    datasets.router.add_delete(r"/{dataset_id:\w+}/logs", delete_dataset_logs_handler)
    datasets.router.add_get(r"/{dataset_id:\w+}/logs/{log_id:\w+}", get_dataset_log_handler)
    datasets.router.add_get(r"/{dataset_id:\w+}/tasks/{task_id:\w+}/logs", get_task_logs_handler)
    datasets.router.add_delete(r"/{dataset_id:\w+}/tasks/{task_id:\w+}/logs", delete_task_logs_handler)
    return {"/logs": logs, "/datasets": datasets}


def _iceprod_app(services: Services) -> web.Application:
    app = family_app(services.settings, services.tokens, iceprod_error)
    app[SERVICES] = services
    return app
