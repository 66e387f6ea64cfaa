"""Request bodies as the handlers see them: decoded, or a 4xx that says why they cannot be."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import http_exceptions, web

from logriver.core.errors import BadRequestError, LogriverError

# aiohttp inflates these itself while the body is read; anything else would reach the
# handlers still encoded, so it is refused up front.
SUPPORTED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
READ_CHUNK = 1 << 16


class UnsupportedEncodingError(LogriverError):
    status = 415
    type = "unsupported_encoding"


class BadEncodingError(BadRequestError):
    type = "invalid_encoding"


def check_content_encoding(header: str, passthrough: frozenset[str] = frozenset()) -> None:
    """415 for a Content-Encoding the service does not decode, unless the route decodes it itself."""
    codings = [c.strip().lower() for c in header.split(",")] if header.strip() else [""]
    unknown = [c for c in codings if c not in SUPPORTED_ENCODINGS and c not in passthrough]
    if unknown or len([c for c in codings if c not in ("", "identity")]) > 1:
        raise UnsupportedEncodingError(
            f"Content-Encoding {header!r} is not supported; send the body plain or with one of gzip or deflate",
            {"header": "Content-Encoding", "supported": ["gzip", "deflate", "identity"]},
        )


async def decoded_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The body's chunks, inflated; a body that does not inflate is a 400, not a server fault."""
    try:
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            yield chunk
    except (http_exceptions.HttpProcessingError, web.RequestPayloadError):
        encoding = request.headers.get("Content-Encoding", "")
        raise BadEncodingError(
            f"the body cannot be decoded as Content-Encoding {encoding!r}; send it compressed as declared",
            {"header": "Content-Encoding"},
        ) from None
