"""Streamed response bodies for the adapters: bounded memory whatever the result size."""

from __future__ import annotations

import logging
from typing import AsyncGenerator

from aiohttp import web

from core.errors import LogriverError

log = logging.getLogger("logriver.adapters")

FLUSH_BYTES = 64 * 1024


async def stream_body(
    request: web.Request, chunks: AsyncGenerator[bytes, None], content_type: str, *, coalesce: bool = True
) -> web.StreamResponse:
    """Send `chunks` as a chunked body, coalesced into writes of about FLUSH_BYTES unless told not to.

    Callers fetch their first results before calling this, so that a storage error still gets
    its proper status; once the status line is out, a failure can only cut the body short,
    which a chunked response signals by closing the connection before the final chunk.
    """
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)
    pending: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            pending.append(chunk)
            size += len(chunk)
            if size >= FLUSH_BYTES or not coalesce:
                await response.write(b"".join(pending))
                pending, size = [], 0
        if pending:
            await response.write(b"".join(pending))
    except LogriverError as error:
        log.warning("%s %s: body cut short: %s (%s)", request.method, request.path, error.message, error.__cause__)
        _abort(request)
        return response
    except ConnectionResetError:
        return response  # the client went away; nothing left to tell it
    finally:
        await chunks.aclose()
    await response.write_eof()
    return response


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()
