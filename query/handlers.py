"""HTTP handlers of the native read API."""

from __future__ import annotations

from aiohttp import web

from logriver.core.errors import NotFoundError
from logriver.core.web import json_response, principal
from logriver.query.pages import PageService
from logriver.query.reader import LineReader
from logriver.query.schemas import ContextSchema, LinesSchema, SearchSchema, StreamsSchema, line_query, load_params
from logriver.query.search import SearchRequest, SearchService
from logriver.query.streams import StreamListing, StreamReader, render_stream

READER = web.AppKey("line_reader", LineReader)
PAGES = web.AppKey("page_service", PageService)
SEARCH = web.AppKey("search_service", SearchService)
STREAMS = web.AppKey("stream_reader", StreamReader)

# Built once: a marshmallow schema deep-copies its fields when constructed, which was a
# noticeable part of a page's CPU; loading keeps no state in the schema.
_LINES_SCHEMA, _CONTEXT_SCHEMA, _SEARCH_SCHEMA = LinesSchema(), ContextSchema(), SearchSchema()


async def get_lines_handler(request: web.Request) -> web.Response:
    caller = principal(request, "read")
    params = load_params(_LINES_SCHEMA, request.query)
    query = line_query(caller.tenant, request.query, params)
    pages = request.app[PAGES]
    page = await pages.page(query, params["limit"], params["from_"], params["token"])
    return json_response(pages.render(page))


async def get_line_handler(request: web.Request) -> web.Response:
    caller = principal(request, "read")
    line = await request.app[READER].get(caller.tenant, request.match_info["line_id"])
    if line is None:
        raise NotFoundError(f"no line with id {request.match_info['line_id']!r}", type="line_not_found")
    return json_response(line.as_dict())


async def get_context_handler(request: web.Request) -> web.Response:
    caller = principal(request, "read")
    params = load_params(_CONTEXT_SCHEMA, request.query)
    pages = request.app[PAGES]
    page, query = await pages.context(caller.tenant, request.match_info["line_id"], params["before"], params["after"])
    return json_response(pages.render(page) | {"stream_id": query.stream_id})


async def search_handler(request: web.Request) -> web.Response:
    caller = principal(request, "read")
    params = load_params(_SEARCH_SCHEMA, request.query)
    search = SearchRequest(
        query=line_query(caller.tenant, request.query, params),
        order=params["sort"],
        limit=params["limit"],
        token=params["token"],
        interval=params["interval"],
    )
    return json_response(await request.app[SEARCH].search(search))


async def get_streams_handler(request: web.Request) -> web.Response:
    caller = principal(request, "read")
    params = load_params(StreamsSchema(), request.query)
    listing = StreamListing(
        query=line_query(caller.tenant, request.query, params),
        limit=params["limit"],
        token=params["token"],
        order=params["sort"],
        match=params["match"],
    )
    streams, next_token = await request.app[STREAMS].page(listing)
    return json_response({"streams": [render_stream(s) for s in streams], "next_token": next_token})


def add_read_routes(
    app: web.Application, reader: LineReader, pages: PageService, search: SearchService, streams: StreamReader
) -> None:
    """The read path's routes, relative to the native API's prefix, over the given services."""
    app[READER] = reader
    app[PAGES] = pages
    app[SEARCH] = search
    app[STREAMS] = streams
    app.router.add_get("/lines", get_lines_handler)
    app.router.add_get("/lines/{line_id}", get_line_handler)
    app.router.add_get("/lines/{line_id}/context", get_context_handler)
    app.router.add_get("/search", search_handler)
    app.router.add_get("/streams", get_streams_handler)
