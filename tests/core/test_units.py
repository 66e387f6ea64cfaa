"""Pure functions of the core: timestamps, settings, index layout, tokens, query syntax."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logriver.core.errors import InvalidQueryError, InvalidTokenError, ValidationError
from logriver.core.indices import IndexLayout, load_template
from logriver.core.params import wants_refresh
from logriver.core.settings import Settings, SettingsError
from logriver.core.timeutil import (
    TimestampError,
    _parse_general,
    format_rfc3339_ns,
    parse_duration_ms,
    parse_timestamp_ns,
    parse_utc_fast,
)
from logriver.query.cursor import Cursor, SortKey, TokenCodec
from logriver.query.textquery import parse_query


@pytest.mark.parametrize(
    "text,ms",
    [("250ms", 250), ("30s", 30_000), (" 5m ", 300_000), ("1h", 3_600_000), ("7d", 604_800_000), ("0s", 0)],
)
def test_durations(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "5", "m", "1.5s", "-1s", "1w", "5 m", "1s\n1s"])
def test_not_durations(text):
    assert parse_duration_ms(text) is None


@pytest.mark.parametrize(
    "query,refresh",
    [({}, False), ({"refresh": ""}, True), ({"refresh": "WAIT_FOR"}, True), ({"refresh": "false"}, False)],
)
def test_refresh_parameter(query, refresh):
    assert wants_refresh(query) is refresh


def test_refresh_parameter_names_the_allowed_values():
    with pytest.raises(ValidationError) as caught:
        wants_refresh({"refresh": "soon"})
    assert "[soon]" in caught.value.message and caught.value.details["parameter"] == "refresh"


@pytest.mark.parametrize(
    "text,ns",
    [
        ("2024-05-01T12:00:00Z", 1714564800_000000000),
        ("2024-05-01T12:00:00.5Z", 1714564800_500000000),
        ("2024-05-01T12:00:00.123456789Z", 1714564800_123456789),
        ("2024-05-01T14:00:00.000000001+02:00", 1714564800_000000001),
        ("2024-05-01 12:00:00z", 1714564800_000000000),
        (1714564800123, 1714564800_123000000),
        ("1714564800123", 1714564800_123000000),
    ],
)
def test_parse_timestamps(text, ns):
    assert parse_timestamp_ns(text) == ns


@pytest.mark.parametrize(
    "bad",
    [
        "2024-05-01T12:00:00",
        "2024-02-31T00:00:00Z",
        "yesterday",
        True,
        1.5,
        "2024-05-01T12:00:00.1234567891Z",
        "2024-05-01T25:00:00Z",
    ],
)
def test_reject_bad_timestamps(bad):
    with pytest.raises(TimestampError):
        parse_timestamp_ns(bad)


@pytest.mark.parametrize(
    "ns,text",
    [
        (1714564800_000000000, "2024-05-01T12:00:00Z"),
        (1714564800_120000000, "2024-05-01T12:00:00.120Z"),
        (1714564800_000001000, "2024-05-01T12:00:00.000001Z"),
        (1714564800_000000001, "2024-05-01T12:00:00.000000001Z"),
    ],
)
def test_format_keeps_precision(ns, text):
    assert format_rfc3339_ns(ns) == text
    assert parse_timestamp_ns(text) == ns


@given(st.integers(0, 253402300799), st.integers(0, 999), st.sampled_from([1_000_000, 1000, 1]))
def test_format_prints_every_fraction_as_datetime_does_and_parses_back(seconds, part, unit):
    ns = seconds * 1_000_000_000 + part * unit
    text = format_rfc3339_ns(ns)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = {1_000_000: 3, 1000: 6, 1: 9}[unit]
    assert text == (f"{whole}Z" if part == 0 else f"{whole}.{part * unit // (10 ** (9 - digits)):0{digits}d}Z")
    assert parse_timestamp_ns(text) == ns


def test_settings_from_env_and_errors():
    settings = Settings.from_env(
        {"LOGRIVER_PORT": "9000", "LOGRIVER_INDEX_PREFIX": "abc", "LOGRIVER_ES_TIMEOUT_SECONDS": "2.5"}, host="0.0.0.0"
    )
    assert (settings.port, settings.index_prefix, settings.es_timeout_seconds, settings.host) == (
        9000,
        "abc",
        2.5,
        "0.0.0.0",
    )
    with pytest.raises(SettingsError, match="LOGRIVER_PORT must be a int"):
        Settings.from_env({"LOGRIVER_PORT": "eighty"})
    with pytest.raises(SettingsError, match="GRANULARITY"):
        Settings.from_env({"LOGRIVER_INDEX_GRANULARITY": "week"})
    with pytest.raises(SettingsError, match="PREFIX"):
        Settings.from_env({"LOGRIVER_INDEX_PREFIX": "Bad*Prefix"})


@pytest.mark.parametrize(
    "granularity,name,end",
    [
        ("hour", "p-lines-2024.05.01.12", 1714568400),
        ("day", "p-lines-2024.05.01", 1714608000),
        ("month", "p-lines-2024.05", 1717200000),
    ],
)
def test_index_layout(granularity, name, end):
    layout = IndexLayout("p", granularity)
    assert layout.lines_index(1714564800_000000000) == name
    assert layout.bucket_end_seconds(name) == end
    assert layout.bucket_end_seconds("q-lines-2024.05.01") is None


def test_templates_are_checked_data():
    templates = IndexLayout("p", refresh_interval="5s").templates()
    lines = templates["p-lines"]
    assert lines["index_patterns"] == ["p-lines-*"]
    assert lines["template"]["settings"]["refresh_interval"] == "5s"
    assert lines["template"]["mappings"]["properties"]["@timestamp"]["type"] == "date_nanos"
    assert lines["template"]["mappings"]["dynamic"] == "strict"
    with pytest.raises(Exception, match="lacks fields"):
        load_template("lines", "p", ("no_such_field",))


def test_token_codec_round_trip_and_rejections():
    codec = TokenCodec("secret")
    cursor = Cursor("older", SortKey(1714564800_123456789, 3, "00000000000000ff00aa11"), True, "fp")
    token = codec.encode(cursor)
    assert codec.decode(token, "fp") == cursor
    with pytest.raises(InvalidTokenError, match="different query"):
        codec.decode(token, "other")
    with pytest.raises(InvalidTokenError, match="signature"):
        TokenCodec("another deployment").decode(token, "fp")
    with pytest.raises(InvalidTokenError):
        codec.decode("", "fp")


def test_nudged_keys_include_the_boundary():
    key = SortKey(5, 0, "0000000000000100abcdef")
    assert key.nudged("newer") < key < key.nudged("older")


def test_query_nesting_is_bounded():
    with pytest.raises(InvalidQueryError, match="nests deeper"):
        parse_query("(" * 40 + "a" + ")" * 40)


_timestamp_like = st.builds(
    lambda date, sep, time, frac, zone: f"{date}{sep}{time}{frac}{zone}",
    st.sampled_from(["2024-05-01", "2024-02-30", "1999-12-31", "2024-5-01", "٢٠٢٤-05-01"]),
    st.sampled_from(["T", "t", " ", "x"]),
    # Seconds out of range, not digits, or digits that are not ASCII (Arabic-Indic "05").
    st.sampled_from(
        ["12:00:00", "23:59:60", "23:59:61", "12:00:6x", "12:00:\u0660\u0665", "24:00:00", "12:0:00", "12:60:00"]
    ),
    st.one_of(st.just(""), st.text(alphabet="0123456789.²", max_size=11).map(lambda t: "." + t)),
    st.sampled_from(["Z", "z", "+02:00", "", "Z ", "ZZ"]),
)


@settings(max_examples=800, deadline=None)  # CPU-bound: a shared core must not fail it on time
@given(st.one_of(_timestamp_like, st.text(max_size=32)))
def test_fast_timestamp_parser_agrees_with_the_general_one(text):
    fast = parse_utc_fast(text)
    assert fast is None or fast == _parse_general(text)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2262, 4, 10)),
    st.text(alphabet="0123456789", max_size=9),
    st.sampled_from(["Z", "z"]),
)
def test_fast_timestamp_parser_accepts_the_shape_it_is_for(moment, digits, zone):
    # Without this, a fast parser that always declined would pass the property above.
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + ("." + digits if digits else "") + zone
    fast = parse_utc_fast(text)
    assert fast is not None, text
    assert fast == _parse_general(text)
