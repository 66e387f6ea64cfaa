"""Property: any walk of tokens sees exactly the lines a sorted-list model predicts.

Streams are drawn with heavy timestamp collisions; walks start at the head or the tail, change
direction at random, use random page sizes, and write lines (late ones included) between pages.
"""

from __future__ import annotations

import itertools
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logriver.core.timeutil import format_rfc3339_ns

BASE = time.time_ns() - 7200 * 1_000_000_000
_stream_numbers = itertools.count()

timestamps = st.integers(min_value=0, max_value=4).map(lambda i: BASE + i * 1_000)
batches = st.lists(st.lists(timestamps, min_size=0, max_size=12), min_size=1, max_size=3)
moves = st.lists(
    st.tuples(st.sampled_from(["older", "newer"]), st.integers(1, 7), st.lists(timestamps, max_size=3)),
    min_size=1,
    max_size=12,
)


class Model:
    """The expected total order: (timestamp, write order)."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, int, str]] = []
        self.count = 0

    def add(self, stamps: list[int]) -> list[dict]:
        out = []
        for stamp in stamps:
            name = f"m{self.count}"
            self.lines.append((stamp, self.count, name))
            out.append({"@timestamp": format_rfc3339_ns(stamp), "message": name})
            self.count += 1
        self.lines.sort()
        return out

    def names(self) -> list[str]:
        return [name for _, _, name in self.lines]


async def write(api, labels, model, stamps):
    if stamps:
        await api.post_lines({"labels": labels, "lines": model.add(stamps)})


def expected_page(names: list[str], position: tuple, direction: str, limit: int) -> list[str]:
    kind, anchor = position
    if kind == "page":
        lo, hi = names.index(anchor[0]), names.index(anchor[1]) + 1
    elif kind == "after":
        lo = hi = names.index(anchor) + 1
    elif kind == "before":
        lo = hi = names.index(anchor)
    else:  # an empty page at one end: its tokens restart from the far ends
        lo, hi = len(names), 0
    return names[hi : hi + limit] if direction == "newer" else names[max(0, lo - limit) : lo]


def next_position(position: tuple, direction: str, page: list[str]) -> tuple:
    if page:
        return ("page", (page[0], page[-1]))
    kind, anchor = position
    if kind == "page":
        return ("after", anchor[1]) if direction == "newer" else ("before", anchor[0])
    return position


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(initial=batches, start=st.sampled_from(["head", "tail"]), first_limit=st.integers(1, 7), walk=moves)
async def test_any_walk_matches_the_model(api, initial, start, first_limit, walk):
    labels = {"prop": str(next(_stream_numbers))}
    model = Model()
    for stamps in initial:
        await write(api, labels, model, stamps)
    page = await api.get_lines(limit=first_limit, from_=start, labels__prop=labels["prop"])
    names = [line["message"] for line in page["lines"]]
    all_names = model.names()
    assert names == (all_names[:first_limit] if start == "head" else all_names[-first_limit:])
    position = ("page", (names[0], names[-1])) if names else ("end", None)
    for direction, limit, written in walk:
        await write(api, labels, model, written)
        token = page["newer_token" if direction == "newer" else "older_token"]
        page = await api.get_lines(limit=limit, token_=token, labels__prop=labels["prop"])
        got = [line["message"] for line in page["lines"]]
        assert got == expected_page(model.names(), position, direction, limit)
        position = next_position(position, direction, got)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stamps=st.lists(timestamps, min_size=1, max_size=40),
    limit=st.integers(1, 9),
    direction=st.sampled_from(["older", "newer"]),
)
async def test_one_direction_visits_every_line_once(api, stamps, limit, direction):
    labels = {"once": str(next(_stream_numbers))}
    model = Model()
    await write(api, labels, model, stamps)
    more, token_field = ("has_more_newer", "newer_token") if direction == "newer" else ("has_more_older", "older_token")
    page = await api.get_lines(
        limit=limit, from_="head" if direction == "newer" else "tail", labels__once=labels["once"]
    )
    seen = [page["lines"]]
    while page[more]:
        page = await api.get_lines(limit=limit, token_=page[token_field], labels__once=labels["once"])
        seen.append(page["lines"])
    ordered = seen if direction == "newer" else seen[::-1]
    assert [line["message"] for chunk in ordered for line in chunk] == model.names()
