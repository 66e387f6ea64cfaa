"""Reading Server-Sent Events in tests, as a browser's EventSource would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from logriver.client_cli import COMMENT, EventParser
from tests.helpers import auth

WAIT = 20.0  # generous: delivery normally takes about half a second


@dataclass
class Event:
    name: str
    id: str | None
    data: Any


class EventReader:
    """Reads text/event-stream events from a byte stream, one line at a time, with a timeout."""

    def __init__(self, readline: Callable[[], Awaitable[bytes]], close: Callable[[], None]):
        self._readline = readline
        self._parser = EventParser(keep_comments=True)  # the CLI client's parser
        self.close = close
        self.position: str | None = None

    async def next(self, comments: bool = False, timeout: float = WAIT) -> Event:
        while True:
            raw = await asyncio.wait_for(self._readline(), timeout)
            if not raw:
                raise EOFError("the stream ended")
            event = self._parser.feed(raw)
            if event is None or (event.name == COMMENT and not comments):
                continue
            if event.name == COMMENT:
                return Event(COMMENT, None, event.data[0].strip())
            return Event(event.name, event.id, orjson.loads("\n".join(event.data)))

    async def lines(self, count: int) -> list[Event]:
        """The next `count` line events; any other event fails the test."""
        events = []
        while len(events) < count:
            event = await self.next()
            assert event.name == "message", event
            events.append(event)
        return events

    async def messages(self, count: int) -> list[str]:
        return [event.data["message"] for event in await self.lines(count)]

    async def opened(self) -> EventReader:
        """Wait for the `open` event, which says the tail is subscribed."""
        opened = await self.next()
        assert opened.name == "open" and opened.id == opened.data["position"]
        self.position = opened.id
        return self


async def open_tail(api, token: str = "read-acme", headers: dict | None = None, **params: Any) -> EventReader:
    """Open a tail and wait for its `open` event, which says it is subscribed."""
    query = {k.replace("labels__", "labels."): v for k, v in params.items()}
    response = await api.http.get("/api/v1/tail", params=query, headers=auth(token) | (headers or {}))
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return await EventReader(response.content.readline, response.close).opened()
