"""Request bodies as the handlers see them: decoded, or a 4xx that says why they cannot be.

The service inflates gzip and deflate itself; the HTTP server is told not to (SERVER_OPTIONS in
logriver/app.py). aiohttp's own inflation reports a broken body to the handler and then again
while it drains what the handler left unread, after the answer was chosen: the connection was
dropped with no answer at all. Inflated here, a broken body is one 400 like any other bad input.

What inflates: gzip (and its alias x-gzip) as one or more complete members, as `gzip` writes them
when files are concatenated; deflate as a zlib stream (RFC 1950, what the name means) or a raw
deflate stream (RFC 1951, what some clients send), told apart by the zlib header. An empty body
stays empty. Anything else is refused: bytes that do not inflate, a stream cut short, a checksum
that does not match, and bytes after the end of a deflate stream or after the last gzip member.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, Generator, Iterator

from aiohttp import http_exceptions, web

from logriver.core.errors import BadRequestError, LogriverError, request_too_large

SUPPORTED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
READ_CHUNK = 1 << 16
GZIP_WBITS = 16 + zlib.MAX_WBITS
ZLIB_WBITS = zlib.MAX_WBITS
RAW_WBITS = -zlib.MAX_WBITS
MAX_GZIP_MEMBERS = 1024  # concatenated gzip members in one body, as many as aiohttp allowed


class UnsupportedEncodingError(LogriverError):
    status = 415
    type = "unsupported_encoding"


class BadEncodingError(BadRequestError):
    type = "invalid_encoding"


def check_content_encoding(header: str, passthrough: frozenset[str] = frozenset()) -> str:
    """The body's one coding ("" for none); 415 for one the service does not decode, unless the route does."""
    codings = [c.strip().lower() for c in header.split(",")] if header.strip() else [""]
    unknown = [c for c in codings if c not in SUPPORTED_ENCODINGS and c not in passthrough]
    applied = [c for c in codings if c not in ("", "identity")]
    if unknown or len(applied) > 1:
        raise UnsupportedEncodingError(
            f"Content-Encoding {header!r} is not supported; send the body plain or with one of gzip or deflate",
            {"header": "Content-Encoding", "supported": ["gzip", "deflate", "identity"]},
        )
    return applied[0] if applied else ""


async def decoded_chunks(request: web.Request, coding: str, max_encoded: int) -> AsyncGenerator[bytes, None]:
    """The body's chunks, inflated when `coding` is gzip or deflate; other codings pass through.

    Each chunk yielded is at most READ_CHUNK bytes, so a caller that stops at its size limit
    has inflated at most one chunk more than that: a zip bomb is never inflated whole. The
    encoded bytes are limited to `max_encoded` as well, which bounds the work on a body that
    inflates to nothing (a long run of empty gzip members).
    """
    inflater = Inflater(coding) if coding in ("gzip", "x-gzip", "deflate") else None
    received = 0
    try:
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            received += len(chunk)
            if received > max_encoded:
                raise request_too_large(max_encoded)
            if inflater is None:
                yield chunk
            else:
                for piece in inflater.feed(chunk):
                    yield piece
    except (http_exceptions.HttpProcessingError, web.RequestPayloadError):
        raise _bad_encoding(coding, "it was cut short or malformed in transit") from None
    if inflater is not None:
        inflater.finish()


class Inflater:
    """One body's gzip or deflate decoder, fed the encoded bytes as they arrive."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.gzip = coding != "deflate"
        self.decoder: zlib._Decompress | None = None  # chosen on the first bytes for deflate
        self.pending = b""  # deflate: bytes held until the zlib header can be told from raw deflate
        self.members = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Inflated pieces of at most READ_CHUNK bytes; 400 when the bytes cannot be inflated."""
        if self.decoder is None:
            data = self.pending + data
            if not self.gzip and len(data) < 2:
                self.pending = data
                return
            self.pending = b""
            self._start(GZIP_WBITS if self.gzip else _deflate_wbits(data))
        while data:
            data = yield from self._inflate(data)

    def _start(self, wbits: int) -> None:
        self.members += 1
        if self.members > MAX_GZIP_MEMBERS:
            raise _bad_encoding(self.coding, f"it has more than {MAX_GZIP_MEMBERS} gzip members; concatenate fewer")
        self.decoder = zlib.decompressobj(wbits)

    def _inflate(self, data: bytes) -> Generator[bytes, None, bytes]:
        """Inflate `data` piece by piece; gives back what follows the end of a gzip member."""
        assert self.decoder is not None
        if self.decoder.eof:  # the previous member ended exactly where the last chunk did
            if not self.gzip:
                raise _bad_encoding(self.coding, "bytes follow the end of the deflate stream")
            self._start(GZIP_WBITS)
            assert self.decoder is not None
        try:
            piece = self.decoder.decompress(data, READ_CHUNK)
            while piece:
                yield piece
                piece = self.decoder.decompress(self.decoder.unconsumed_tail, READ_CHUNK)
        except zlib.error as exc:
            raise _bad_encoding(self.coding, f"it does not inflate ({exc})") from None
        return self.decoder.unused_data if self.decoder.eof else b""

    def finish(self) -> None:
        """400 for a body that ended inside a stream (a truncated one); an empty body is empty."""
        if self.pending:
            raise _bad_encoding(self.coding, "it ends before the stream's header does")
        if self.decoder is not None and not self.decoder.eof:
            raise _bad_encoding(self.coding, "it ends before the compressed stream does (truncated)")


def _deflate_wbits(head: bytes) -> int:
    """A zlib header (RFC 1950: method 8, a window of at most 32 KiB, a check of 31) or raw deflate."""
    cmf, flg = head[0], head[1]
    is_zlib = cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0
    return ZLIB_WBITS if is_zlib else RAW_WBITS


def _bad_encoding(coding: str, why: str) -> BadEncodingError:
    return BadEncodingError(
        f"the body cannot be decoded as Content-Encoding {coding!r}: {why}; send it compressed as declared",
        {"header": "Content-Encoding"},
    )
