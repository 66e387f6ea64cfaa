"""The parser alone: what it accepts, what it refuses and how, and that nothing else escapes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logriver.adapters.loki.logql_ast import BinaryOp, LabelFilterStage, LogQuery, RangeAgg, VectorAgg
from logriver.adapters.loki.logql_lexer import LogQLError
from logriver.adapters.loki.logql_parser import MAX_QUERY_LENGTH, parse_logql
from tests.adapters.loki.logql_strategies import QUERIES

ACCEPTED = [
    '{app="a"}',
    "{app=`a`}",
    '{app="a", env!="b", x=~"c|d", y!~"e.*"}',
    '{app="a"} |= "x" != `y` |~ "z+" !~ `\\d`',
    '{app="a"} |= "x" or "y"',
    '{app="a"} | json | logfmt | status >= 500 and level="error" or duration > 1.5s, size < 2KiB',
    '{app="a"} | logfmt | (status=200 or status=201) latency <= 250ms',
    '{app="a"} | drop a, b="c", __error__',
    '{app="a"} | keep app, status',
    '{app="a"} | line_format "{{.app}}: {{ .msg }}"',
    'sum by (level, detected_level) (count_over_time({app="a"} | drop __error__[1m]))',
    'sum(rate({app="a"}[5m])) by (env)',
    'topk(3, sum without (pod) (bytes_rate({app="a"} |= "x" [30s])))',
    'count_over_time(({app="a"} | json)[1h30m])',
    'count_over_time({app="a"}[1m] |= "x")',
    "vector(1)+vector(1)",
    "-2 * vector(2) ^ 2 * 3 % 4 / 5 - 6",
    'avg(count_over_time({a="b"}[1m])) / sum(count_over_time({a="b"}[1m]))',
]
REFUSED = [
    ("", "syntax error"),
    ('{app=""}', "empty-compatible"),
    ('{app!="a"}', "empty-compatible"),
    ('{app="a"', "expected"),
    ('{app="a"}[5m]', "range aggregation"),
    ('{app=~"(a"}', "invalid regular expression"),
    ('{app=~"(?=a)"}', "invalid regular expression"),
    ('{app="a"} |~ "\\\\1"', "invalid regular expression"),
    ('{app="a"} | unwrap x', "unsupported LogQL: the unwrap stage"),
    ('{app="a"} | label_format a=b', "label_format"),
    ('{app="a"} | json a="b"', "extraction"),
    ('{app="a"} | line_format "{{ .a | upper }}"', "line_format action"),
    ('{app="a"} |= ip("1.2.3.4")', "ip"),
    ('quantile_over_time(0.9, {app="a"} | unwrap x [1m])', "quantile_over_time"),
    ('count_over_time({app="a"}[1m]) > 1', "'>'"),
    ('count_over_time({app="a"}[1m] offset 1h)', "offset"),
    ('count_over_time({app="a"})', "needs a range"),
    ('count_over_time({app="a"}[0s])', "positive duration"),
    ('topk(0, count_over_time({app="a"}[1m]))', "at least 1"),
    ('{app="a"} | status > "x"', "not strings"),
    ('{app="a"} + 1', "cannot be an operand"),
    ("-vector(1)", "a number after the sign"),
    ('{app="\\q"}', "invalid escape"),
    ("x" * (MAX_QUERY_LENGTH + 1), "limit"),
]


@pytest.mark.parametrize("query", ACCEPTED)
def test_accepted(query):
    parse_logql(query)


@pytest.mark.parametrize("query,needle", REFUSED)
def test_refused_with_a_reason(query, needle):
    with pytest.raises(LogQLError) as caught:
        parse_logql(query)
    assert needle in caught.value.message
    assert caught.value.status == 400


def test_tree_shapes():
    tree = parse_logql('sum by (app) (count_over_time({app="a"} | logfmt | s > 1 [2m])) * 2')
    assert isinstance(tree, BinaryOp) and isinstance(tree.left, VectorAgg)
    inner = tree.left.inner
    assert isinstance(inner, RangeAgg) and inner.range_ns == 120 * 10**9
    assert isinstance(inner.log.stages[-1], LabelFilterStage)
    assert tree.left.grouping is not None and tree.left.grouping.labels == ("app",)
    power = parse_logql("vector(2) ^ 3 ^ 2")  # right-associative, as in Loki and Prometheus
    assert isinstance(power, BinaryOp) and isinstance(power.right, BinaryOp)
    log = parse_logql('{a="b"} |= "x" | json')
    assert isinstance(log, LogQuery) and len(log.stages) == 2


@settings(max_examples=400, deadline=None)
@given(st.one_of(QUERIES, st.text(max_size=60)))
def test_any_text_parses_or_is_a_400(query):
    try:
        parse_logql(query)
    except LogQLError as error:
        assert error.status == 400 and error.message
