"""The compiled decoder of write bodies must give what the general path gives, whenever it answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logriver.core.errors import BadRequestError
from logriver.core.settings import Settings
from logriver.core.timeutil import MAX_INT64, NS_PER_SECOND
from logriver.ingest.schemas import parse_lines_body, validate_lines
from logriver.ingest.typedbody import typed_lines
from tests.ingest.test_fastpath import json_values, lines

NOW = 1_714_564_800 * NS_PER_SECOND + 123
SETTINGS = Settings.from_env(
    {
        "LOGRIVER_MAX_LABELS": "3",
        "LOGRIVER_MAX_MESSAGE_BYTES": "40",
        "LOGRIVER_MAX_FIELDS_DEPTH": "2",
        "LOGRIVER_RETENTION_DAYS": "3",
    }
)
CONTENT_TYPES = ["application/json", "application/x-ndjson"]
INSERTS = [b",", b"{", b"]", b'"', b"\\ud800", b"\t", b"\xff", b"1" * 20, b" ", b"\x00"]

big_numbers = st.one_of(
    st.integers(-(2**70), 2**70), st.integers(MAX_INT64 - 3, MAX_INT64 + 3), st.integers(2**64 - 3, 2**64 + 3)
)
usual_lines = st.fixed_dictionaries(
    {
        "@timestamp": st.one_of(
            st.sampled_from(["2024-05-01T12:00:00.123456789Z", "2024-05-01T11:59:59Z", "2024-05-01T14:00:00+02:00"]),
            st.integers(1_714_000_000_000, 1_715_000_000_000),
        ),
        "message": st.text(max_size=12),
    },
    optional={
        "labels": st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=4),
        "order_num": st.one_of(st.integers(0, 10**6), big_numbers),
        "fields": st.one_of(st.none(), st.dictionaries(st.text(max_size=3), json_values | big_numbers, max_size=3)),
        "id": st.text(max_size=3),
    },
)
any_lines = st.one_of(usual_lines, usual_lines, lines, json_values)


def _text(value: Any, spaced: bool) -> bytes:
    # The standard library writes integers of any size (orjson refuses those beyond 64 bits).
    return json.dumps(value, ensure_ascii=not spaced, separators=(", ", ": ") if spaced else (",", ":")).encode()


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    items = draw(st.lists(any_lines, max_size=6))
    spaced = draw(st.booleans())
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type.endswith("ndjson"):
        text = b"\n".join(_text(item, spaced) for item in items) + draw(st.sampled_from([b"", b"\n", b"\n\n"]))
    elif draw(st.booleans()):
        text = _text(items, spaced)
    else:
        shared = draw(st.one_of(st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2), json_values))
        text = _text({"labels": shared, "lines": items} if draw(st.booleans()) else {"lines": items}, spaced)
    return draw(_mutated(text)), content_type


@st.composite
def _mutated(draw: st.DrawFn, text: bytes) -> bytes:
    """Mostly the text as written; sometimes with bytes cut out or put in, to reach what JSON parsers disagree on."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()) and at < len(text):
            text = text[:at] + text[at + draw(st.integers(1, 3)) :]
        else:
            text = text[:at] + draw(st.sampled_from(INSERTS)) + text[at:]
    return text


def _general(body: bytes, content_type: str) -> Any:
    try:
        items, shared, parse_rejections = parse_lines_body(body, content_type)
    except BadRequestError as exc:
        return ("refused", exc.type)
    accepted, rejected = validate_lines(items, shared, SETTINGS, NOW)
    return len(items), accepted, parse_rejections + rejected


def _comparable(answer: Any) -> Any:
    """Both answers with every field's JSON spelled out: 1 and 1.0 are equal in Python, not in storage."""
    received, accepted, rejected = answer
    lines = [(i, line._replace(fields=json.dumps(line.fields))) for i, line in accepted]
    return received, lines, sorted((r.as_dict() for r in rejected), key=lambda r: (r["index"], r["type"]))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_the_compiled_decoder_answers_only_as_the_general_path_does(body):
    text, content_type = body
    typed = typed_lines(text, content_type, SETTINGS, NOW)
    if typed is None:
        return
    general = _general(text, content_type)
    assert general[0] != "refused", f"the general path refuses this body ({general[1]}): {text!r}"
    assert _comparable(typed) == _comparable(general)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_the_usual_bodies_take_the_compiled_decoder(content_type):
    line = {
        "@timestamp": "2024-05-01T12:00:00.5Z",
        "message": "GET /x 200",
        "labels": {"app": "web"},
        "order_num": 7,
        "fields": {"status": 200, "nested": {"a": [1, 2.5]}},
    }
    too_long = {"@timestamp": 1714564800000, "message": "x" * 41}
    if content_type.endswith("ndjson"):
        text = _text(line, False) + b"\n\n" + _text(too_long, False) + b"\n"
    else:
        text = _text({"labels": {"host": "h1"}, "lines": [line, too_long]}, False)
    typed = typed_lines(text, content_type, SETTINGS, NOW)
    assert typed is not None
    received, accepted, rejected = typed
    assert (received, [i for i, _ in accepted], [(r.index, r.type) for r in rejected]) == (
        2,
        [0],
        [(1, "message_too_long")],
    )
    assert _comparable(typed) == _comparable(_general(text, content_type))


@pytest.mark.parametrize(
    "text",
    [
        b'[{"@timestamp": "2024-05-01T12:00:00Z", "message": "m", "fields": {"n": 12345678901234567890123}}]',
        b'[{"@timestamp": "2024-05-01T12:00:00Z", "message": "m", "order_num": true}]',
        b'[{"@timestamp": "yesterday", "message": "m"}]',
        b'[{"@timestamp": "2024-05-01T12:00:00Z", "message": "m", "level": "info"}]',
        b'[{"@timestamp": "2024-05-01T12:00:00Z", "message": "m", "fields": '
        + b'{"a":' * 70
        + b"1"
        + b"}" * 70
        + b"}]",
        b'[{"@timestamp": "2024-05-01T12:00:00Z", "message": "\\ud800"}]',
        b"[1]",
    ],
)
def test_what_the_general_path_must_word_is_left_to_it(text):
    assert typed_lines(text, "application/json", SETTINGS, NOW) is None
