"""Pages of lines with forward and backward tokens, and a line's context."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from logriver.core.errors import NotFoundError
from logriver.query.cursor import Cursor, Direction, TokenCodec, query_fingerprint
from logriver.query.reader import Line, LineQuery, LineReader

Start = Literal["head", "tail"]


def _opposite(direction: Direction) -> Direction:
    return "older" if direction == "newer" else "newer"


@dataclass(frozen=True)
class Page:
    """Lines in chronological order and the two ways on from them."""

    lines: list[Line]
    older: Cursor
    newer: Cursor
    has_more_older: bool
    has_more_newer: bool


class PageService:
    def __init__(self, reader: LineReader, codec: TokenCodec):
        self.reader = reader
        self.codec = codec

    def fingerprint(self, query: LineQuery) -> str:
        return query_fingerprint("lines", *query.fingerprint_parts())

    async def page(self, query: LineQuery, limit: int, start: Start = "head", token: str | None = None) -> Page:
        """One page; a token continues exactly where its page ended, in its direction."""
        fingerprint = self.fingerprint(query)
        if token:
            cursor = self.codec.decode(token, fingerprint)
        else:
            cursor = Cursor("newer" if start == "head" else "older", None, False, fingerprint)
        if cursor.key is None or not cursor.inclusive:
            # One search: from an end nothing lies behind; past a line of the page that issued the
            # token, that line lies behind (a line deleted since still counts: the next page is empty).
            main = await self.reader.slice(query, cursor.direction, cursor.effective_key(), limit + 1)
            return _assemble(cursor, main[:limit], len(main) > limit, cursor.key is not None)
        main, beyond = await asyncio.gather(
            self.reader.slice(query, cursor.direction, cursor.effective_key(), limit + 1),
            self._probe_opposite(query, cursor),
        )
        return _assemble(cursor, main[:limit], len(main) > limit, beyond)

    async def _probe_opposite(self, query: LineQuery, cursor: Cursor) -> bool:
        """Past an empty page's way back: is any line on the other side, the boundary line excluded?"""
        assert cursor.key is not None
        return bool(await self.reader.slice(query, _opposite(cursor.direction), cursor.key, 1))

    async def context(self, tenant: str, line_id: str, before: int, after: int) -> tuple[Page, LineQuery]:
        """`before` lines older and `after` lines newer than a line, in its own stream."""
        line = await self.reader.get(tenant, line_id)
        if line is None:
            raise NotFoundError(f"no line with id {line_id!r}", type="line_not_found")
        query = LineQuery(tenant=tenant, stream_id=line.stream_id)
        older, newer = await asyncio.gather(
            self.reader.slice(query, "older", line.key, before + 1) if before else _nothing(),
            self.reader.slice(query, "newer", line.key, after + 1) if after else _nothing(),
        )
        lines = [*list(reversed(older[:before])), line, *newer[:after]]
        fingerprint = self.fingerprint(query)
        page = Page(
            lines,
            Cursor("older", lines[0].key, False, fingerprint),
            Cursor("newer", lines[-1].key, False, fingerprint),
            has_more_older=len(older) > before if before else await self._any(query, "older", lines[0]),
            has_more_newer=len(newer) > after if after else await self._any(query, "newer", lines[-1]),
        )
        return page, query

    async def _any(self, query: LineQuery, direction: Direction, line: Line) -> bool:
        return bool(await self.reader.slice(query, direction, line.key, 1))

    def render(self, page: Page) -> dict[str, Any]:
        return {
            "lines": [line.as_dict() for line in page.lines],
            "older_token": self.codec.encode(page.older),
            "newer_token": self.codec.encode(page.newer),
            "has_more_older": page.has_more_older,
            "has_more_newer": page.has_more_newer,
        }


async def _nothing() -> list[Line]:
    return []


def _assemble(cursor: Cursor, found: list[Line], more_ahead: bool, more_behind: bool) -> Page:
    direction = cursor.direction
    lines = found if direction == "newer" else list(reversed(found))
    if lines:
        older = Cursor("older", lines[0].key, False, cursor.fingerprint)
        newer = Cursor("newer", lines[-1].key, False, cursor.fingerprint)
    elif cursor.key is None:
        older = Cursor("older", None, False, cursor.fingerprint)
        newer = Cursor("newer", None, False, cursor.fingerprint)
    else:
        # An empty page is the gap at the boundary: going on repeats the token, turning back
        # takes everything on the other side, the boundary line included unless it was ours.
        back = Cursor(_opposite(direction), cursor.key, not cursor.inclusive, cursor.fingerprint)
        older, newer = (cursor, back) if direction == "older" else (back, cursor)
    if direction == "newer":
        return Page(lines, older, newer, has_more_older=more_behind, has_more_newer=more_ahead)
    return Page(lines, older, newer, has_more_older=more_ahead, has_more_newer=more_behind)
