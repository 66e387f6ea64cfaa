"""LogQL by recursive descent, into `logql_ast`; what logriver cannot answer exactly is refused here.

expr      := term (("+" | "-") term)*
term      := power (("*" | "/" | "%") power)*
power     := unary ("^" power)?
unary     := ("-" | "+") unary | primary
primary   := number | "(" expr ")" | "vector" "(" number ")" | agg | range_agg | log_query
agg       := AGG [grouping] "(" [number ","] expr ")" [grouping]
range_agg := RANGE "(" log_query_with_range ")"
log_query := selector stage*
selector  := "{" matcher ("," matcher)* "}"
"""

from __future__ import annotations

from typing import cast, get_args

from logriver.adapters.loki.logql_ast import (
    AggOp,
    ArithOp,
    BinaryOp,
    DropKeepStage,
    Expr,
    Grouping,
    LabelFilterStage,
    LineFilter,
    LineFormatStage,
    LineOp,
    LogQuery,
    Matcher,
    MatchOp,
    MetricExpr,
    NumberLit,
    ParserStage,
    RangeAgg,
    RangeOp,
    Selector,
    Stage,
    VectorAgg,
    VectorLit,
)
from logriver.adapters.loki.logql_labels import parse_label_expr
from logriver.adapters.loki.logql_lexer import LogQLError, Token, duration_ns, parse_error, tokenize, unsupported
from logriver.adapters.loki.regex import Pattern, RegexError, compile_re2

MAX_QUERY_LENGTH = 8192  # characters; the limit is stated in the 400 that enforces it
MAX_DEPTH = 64
AGG_OPS = get_args(AggOp)
RANGE_OPS = get_args(RangeOp)
# Known LogQL that logriver refuses rather than approximates, named in the 400.
UNSUPPORTED_FUNCTIONS = {
    "sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "stddev_over_time",
    "stdvar_over_time", "quantile_over_time", "first_over_time", "last_over_time", "absent_over_time",
    "rate_counter", "bottomk", "stddev", "stdvar", "sort", "sort_desc", "label_replace",
    "approx_topk", "sqrt", "abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max",
}  # fmt: skip
UNSUPPORTED_STAGES = {"label_format", "unwrap", "pattern", "regexp", "unpack", "decolorize", "distinct"}
LINE_OPS = ("|=", "!=", "|~", "!~")


def parse_logql(text: str) -> Expr:
    """The syntax tree of `text`; raises LogQLError (a 400) naming the position or the unsupported part."""
    if len(text) > MAX_QUERY_LENGTH:
        raise LogQLError(
            f"the query is {len(text)} characters; the limit is {MAX_QUERY_LENGTH}",
            {"max_query_length": MAX_QUERY_LENGTH},
        )
    parser = _Parser(tokenize(text))
    expr = parser.expr(0)
    tok = parser.peek()
    if tok.kind != "end":
        raise parse_error(tok.pos, f"syntax error: unexpected {tok.text!r}")
    return expr


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.index = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return tok

    def is_op(self, *texts: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in texts

    def expect(self, text: str) -> Token:
        tok = self.take()
        if tok.kind != "op" or tok.text != text:
            shown = repr(tok.text) if tok.kind != "end" else "end of query"
            raise parse_error(tok.pos, f"syntax error: expected {text!r}, found {shown}")
        return tok

    def expect_kind(self, kind: str, what: str) -> Token:
        tok = self.take()
        if tok.kind != kind:
            shown = repr(tok.text) if tok.kind != "end" else "end of query"
            raise parse_error(tok.pos, f"syntax error: expected {what}, found {shown}")
        return tok

    # Arithmetic

    def expr(self, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise parse_error(self.peek().pos, f"the query nests deeper than {MAX_DEPTH} levels")
        left = self.term(depth)
        while self.is_op("+", "-"):
            op = cast(ArithOp, self.take().text)
            left = BinaryOp(op, self.metric(left), self.metric(self.term(depth)))
        self._refuse_comparison()
        return left

    def _refuse_comparison(self) -> None:
        if self.is_op("==", "!=", ">", ">=", "<", "<=") or self.peek().text in ("and", "or", "unless"):
            raise unsupported(f"the operator {self.peek().text!r} between queries")

    def term(self, depth: int) -> Expr:
        left = self.power(depth)
        while self.is_op("*", "/", "%"):
            op = cast(ArithOp, self.take().text)
            left = BinaryOp(op, self.metric(left), self.metric(self.power(depth)))
        return left

    def power(self, depth: int) -> Expr:
        left = self.unary(depth)
        if self.is_op("^"):
            self.take()
            return BinaryOp("^", self.metric(left), self.metric(self.power(depth + 1)))
        return left

    def unary(self, depth: int) -> Expr:
        # As in Loki's grammar, a sign belongs to a number literal only.
        if self.is_op("-", "+"):
            sign = self.take().text
            number = self.expect_kind("number", f"a number after the sign {sign!r}")
            return NumberLit(-float(number.text) if sign == "-" else float(number.text))
        return self.primary(depth)

    def metric(self, expr: Expr) -> MetricExpr:
        if isinstance(expr, LogQuery):
            raise parse_error(
                self.peek().pos, "a log query cannot be an operand of arithmetic; wrap it in a range aggregation"
            )
        return expr

    def primary(self, depth: int) -> Expr:
        tok = self.peek()
        if tok.kind == "number":
            self.take()
            return NumberLit(float(tok.text))
        if self.is_op("("):
            self.take()
            inner = self.expr(depth + 1)
            self.expect(")")
            return inner
        if self.is_op("{"):
            return self.log_query()
        if tok.kind == "name":
            return self.function(tok, depth)
        shown = repr(tok.text) if tok.kind != "end" else "end of query"
        raise parse_error(tok.pos, f"syntax error: unexpected {shown}")

    def function(self, tok: Token, depth: int) -> MetricExpr:
        name = tok.text
        if name == "vector":
            self.take()
            self.expect("(")
            value = self.signed_number()
            self.expect(")")
            return VectorLit(value)
        if name in RANGE_OPS:
            return self.range_agg()
        if name in AGG_OPS:
            return self.vector_agg(depth)
        if name in UNSUPPORTED_FUNCTIONS:
            raise unsupported(f"the function {name}")
        raise parse_error(tok.pos, f"syntax error: unexpected {name!r}")

    def signed_number(self) -> float:
        sign = -1.0 if self.is_op("-") else 1.0
        if self.is_op("-", "+"):
            self.take()
        return sign * float(self.expect_kind("number", "a number").text)

    # Aggregations

    def vector_agg(self, depth: int) -> VectorAgg:
        op = cast(AggOp, self.take().text)
        grouping = self.grouping() if self.peek().text in ("by", "without") else None
        self.expect("(")
        param = None
        if op == "topk":
            k = self.expect_kind("number", "topk's k as a whole number")
            if not k.text.isdigit() or int(k.text) < 1:
                raise parse_error(k.pos, f"topk's k must be a whole number of at least 1, got {k.text}")
            param = int(k.text)
            self.expect(",")
        inner = self.metric(self.expr(depth + 1))
        self.expect(")")
        if self.peek().text in ("by", "without"):
            if grouping is not None:
                raise parse_error(self.peek().pos, "syntax error: a second grouping")
            grouping = self.grouping()
        return VectorAgg(op, inner, grouping, param)

    def grouping(self) -> Grouping:
        without = self.take().text == "without"
        self.expect("(")
        labels: list[str] = []
        while not self.is_op(")"):
            labels.append(self.expect_kind("name", "a label name").text)
            if not self.is_op(")"):
                self.expect(",")
        self.expect(")")
        return Grouping(without, tuple(labels))

    def range_agg(self) -> RangeAgg:
        op = cast(RangeOp, self.take().text)
        self.expect("(")
        wrapped = self.is_op("(")
        if wrapped:
            self.take()
        selector = self.selector()
        range_ns = self.range_suffix() if self.is_op("[") else None
        stages = self.stages()
        if wrapped:
            self.expect(")")
        if self.is_op("["):
            if range_ns is not None:
                raise parse_error(self.peek().pos, "syntax error: a second range")
            range_ns = self.range_suffix()
        if range_ns is None:
            raise parse_error(self.peek().pos, f"syntax error: {op} needs a range such as [5m]")
        if self.peek().text == "offset":
            raise unsupported("offset")
        self.expect(")")
        return RangeAgg(op, LogQuery(selector, stages), range_ns)

    def range_suffix(self) -> int:
        self.expect("[")
        tok = self.take()
        value = duration_ns(tok.text) if tok.kind == "duration" else None
        if not value:
            raise parse_error(tok.pos, f"the range must be a positive duration such as 5m, got {tok.text!r}")
        self.expect("]")
        return value

    # Log queries

    def log_query(self) -> LogQuery:
        selector = self.selector()
        if self.is_op("["):
            raise parse_error(
                self.peek().pos, "a range [..] belongs inside a range aggregation such as count_over_time"
            )
        return LogQuery(selector, self.stages())

    def selector(self) -> Selector:
        opening = self.expect("{")
        matchers: list[Matcher] = []
        while not self.is_op("}"):
            matchers.append(self.matcher(("=", "!=", "=~", "!~")))
            if not self.is_op("}"):
                self.expect(",")
        self.expect("}")
        if not any(not m.matches("") for m in matchers):
            raise LogQLError(
                "queries require at least one regexp or equality matcher that does not have an "
                f'empty-compatible value (col {opening.pos + 1}); for instance {{job="x"}} or {{job=~".+"}}'
            )
        return Selector(tuple(matchers))

    def matcher(self, ops: tuple[str, ...]) -> Matcher:
        name = self.expect_kind("name", "a label name")
        op = self.take()
        if op.kind != "op" or op.text not in ops:
            raise parse_error(op.pos, f"syntax error: expected one of {', '.join(ops)} after {name.text}")
        value = self.expect_kind("string", "a quoted value")
        pattern = None
        if op.text in ("=~", "!~"):
            pattern = _regex(f"^(?:{value.text})$", value)
        return Matcher(name.text, cast(MatchOp, op.text), value.text, pattern)

    def stages(self) -> tuple[Stage, ...]:
        stages: list[Stage] = []
        while True:
            if self.is_op(*LINE_OPS):
                stages.append(self.line_filter())
            elif self.is_op("|"):
                self.take()
                stages.append(self.pipe_stage())
            else:
                return tuple(stages)

    def line_filter(self) -> LineFilter:
        op = cast(LineOp, self.take().text)
        values = [self.filter_value()]
        while self.peek().text == "or" and self.peek(1).kind == "string":
            self.take()
            values.append(self.filter_value())
        patterns: tuple[Pattern, ...] = ()
        if op in ("|~", "!~"):
            patterns = tuple(_regex(v.text, v) for v in values)
        return LineFilter(op, tuple(v.text for v in values), patterns)

    def filter_value(self) -> Token:
        tok = self.peek()
        if tok.kind == "name" and self.peek(1).text == "(":
            raise unsupported(f"the line filter function {tok.text}()")
        return self.expect_kind("string", "a quoted string after the line filter")

    def pipe_stage(self) -> Stage:
        tok = self.peek()
        if tok.kind == "name" and tok.text in ("json", "logfmt"):
            self.take()
            if self.peek().kind == "name" and self.peek(1).text in ("=", ","):
                raise unsupported(f"{tok.text} with extraction expressions", "use | {tok.text} and filter the labels")
            if self.is_op("-"):
                raise unsupported(f"{tok.text} flags")
            return ParserStage("json" if tok.text == "json" else "logfmt")
        if tok.kind == "name" and tok.text in ("drop", "keep"):
            self.take()
            return self.drop_keep(tok.text == "keep")
        if tok.kind == "name" and tok.text == "line_format":
            self.take()
            return LineFormatStage(_template(self.expect_kind("string", "a quoted template")))
        if tok.kind == "name" and tok.text in UNSUPPORTED_STAGES:
            raise unsupported(f"the {tok.text} stage")
        if tok.kind == "name" and tok.text == "ip" and self.peek(1).text == "(":
            raise unsupported("ip() label filters")
        expr, self.index = parse_label_expr(self.tokens, self.index)
        return LabelFilterStage(expr)

    def drop_keep(self, keep: bool) -> DropKeepStage:
        names: list[str] = []
        matchers: list[Matcher] = []
        while True:
            if self.peek(1).kind == "op" and self.peek(1).text in ("=", "!=", "=~", "!~"):
                matchers.append(self.matcher(("=", "!=", "=~", "!~")))
            else:
                names.append(self.expect_kind("name", "a label name").text)
            if not self.is_op(","):
                return DropKeepStage(keep, tuple(names), tuple(matchers))
            self.take()


def _regex(pattern: str, tok: Token) -> Pattern:
    try:
        return compile_re2(pattern)
    except RegexError as exc:
        raise parse_error(tok.pos, f"invalid regular expression {tok.text!r}: {exc}") from None


def _template(tok: Token) -> tuple[tuple[bool, str], ...]:
    """`{{.name}}` references and literal text; any other template action is refused."""
    parts: list[tuple[bool, str]] = []
    text, pos = tok.text, 0
    while pos < len(text):
        start = text.find("{{", pos)
        if start < 0:
            parts.append((False, text[pos:]))
            break
        if start > pos:
            parts.append((False, text[pos:start]))
        end = text.find("}}", start)
        if end < 0:
            raise parse_error(tok.pos, "line_format: a template action is not closed with }}")
        action = text[start + 2 : end].strip()
        name = action[1:] if action.startswith(".") else ""
        if not name or not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c == "_" for c in name):
            raise unsupported(f"the line_format action {{{{{action}}}}}", "only {{.label}} references are")
        parts.append((True, name))
        pos = end + 2
    return tuple(parts)
