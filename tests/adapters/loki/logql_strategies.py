"""Hypothesis strategies for LogQL: grammar-shaped queries with hostile pieces mixed in."""

from __future__ import annotations

from hypothesis import strategies as st

NAMES = st.sampled_from(["app", "env", "level", "status", "__error__", "x", "a_b", "_", "1bad", "by"])
HOSTILE = st.sampled_from(
    ["", "(", "\\", "`", '"', "[", "a{1000000}", "(?=x)", "\\1", "\x00", "é", "9" * 400, "*", ".*"]
)
VALUES = st.one_of(st.text(max_size=12), HOSTILE)
NUMBERS = st.sampled_from(
    ["0", "1", "-1", "1.5", "1e308", "1e999", "5m", "1h30m", "250ms", "2KB", "3MiB", "0s", "99999999999999999999"]
)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def selectors(draw: st.DrawFn) -> str:
    matchers = draw(st.lists(st.tuples(NAMES, st.sampled_from(["=", "!=", "=~", "!~"]), VALUES), max_size=3))
    return "{" + ", ".join(f"{n}{op}{_quote(v)}" for n, op, v in matchers) + "}"


@st.composite
def stages(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["line", "parser", "label", "drop", "keep", "format", "junk"]))
    if kind == "line":
        return f"{draw(st.sampled_from(['|=', '!=', '|~', '!~']))} {_quote(draw(VALUES))}"
    if kind == "parser":
        return draw(st.sampled_from(["| json", "| logfmt", "| unpack", "| pattern `<a>`", '| json a="b"']))
    if kind == "label":
        op = draw(st.sampled_from(["=", "!=", "=~", "!~", ">", ">=", "<", "<=", "=="]))
        value = draw(st.one_of(NUMBERS, VALUES.map(_quote)))
        joiner = draw(st.sampled_from(["", " and ", " or ", ", "]))
        extra = f"{joiner}{draw(NAMES)} > 1" if joiner else ""
        return f"| {draw(NAMES)} {op} {value}{extra}"
    if kind in ("drop", "keep"):
        return f"| {kind} " + ", ".join(draw(st.lists(NAMES, min_size=1, max_size=3)))
    if kind == "format":
        return (
            f"| line_format {_quote(draw(st.sampled_from(['{{.app}}', '{{ .x }} y', '{{', '}}', '{{.}}', 'plain'])))}"
        )
    return draw(st.text(max_size=6))


@st.composite
def log_queries(draw: st.DrawFn) -> str:
    return draw(selectors()) + " " + " ".join(draw(st.lists(stages(), max_size=4)))


@st.composite
def metric_queries(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(["count_over_time", "rate", "bytes_over_time", "bytes_rate", "sum_over_time"]))
    rng = draw(st.sampled_from(["1m", "5s", "0s", "1h", "x", "10000d", "1ns"]))
    inner = f"{op}({draw(log_queries())} [{rng}])"
    agg = draw(st.sampled_from(["", "sum", "count", "avg", "min", "max", "topk(2,", "topk(0,", "bottomk(1,"]))
    if agg.startswith(("topk", "bottomk")):
        inner = f"{agg} {inner})"
    elif agg:
        grouping = draw(st.sampled_from(["", " by (app)", " without (level)", " by ()", " by (app"]))
        inner = f"{agg}{grouping} ({inner})"
    if draw(st.booleans()):
        inner = f"{inner} {draw(st.sampled_from(['+', '-', '*', '/', '%', '^', '>', 'and']))} {draw(NUMBERS)}"
    return inner


QUERIES = st.one_of(
    log_queries(), metric_queries(), st.text(max_size=40), st.sampled_from(["vector(1)+vector(1)", "1/0", "2^1e308"])
)
TIMES = st.one_of(
    NUMBERS, st.sampled_from(["", "now", "2026-01-01T00:00:00Z", "1.5", "-5", "1e20", "18446744073709551616"])
)
