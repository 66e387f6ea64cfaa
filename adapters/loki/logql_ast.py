"""The LogQL syntax tree: what the parser produces and the evaluator walks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from logriver.adapters.loki.regex import Pattern

MatchOp = Literal["=", "!=", "=~", "!~"]
LineOp = Literal["|=", "!=", "|~", "!~"]
CompareOp = Literal["=", "==", "!=", ">", ">=", "<", "<=", "=~", "!~"]
ValueKind = Literal["string", "number", "duration", "bytes"]
RangeOp = Literal["count_over_time", "rate", "bytes_over_time", "bytes_rate"]
AggOp = Literal["sum", "count", "avg", "min", "max", "topk"]
ArithOp = Literal["+", "-", "*", "/", "%", "^"]


@dataclass(frozen=True)
class Matcher:
    """One `name op "value"` of a stream selector or a drop/keep stage; regexes fully anchored."""

    name: str
    op: MatchOp
    value: str
    pattern: Pattern | None = field(default=None, compare=False)

    def matches(self, actual: str) -> bool:
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class Selector:
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class LineFilter:
    """`|= "a" or "b"`: for `|=`/`|~` any alternative matches, for `!=`/`!~` none does."""

    op: LineOp
    values: tuple[str, ...]
    patterns: tuple[Pattern, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class ParserStage:
    kind: Literal["json", "logfmt"]


@dataclass(frozen=True)
class LabelCompare:
    name: str
    op: CompareOp
    kind: ValueKind
    text: str  # the value as written (strings unquoted)
    number: float = 0.0  # numbers, durations in seconds, bytes
    pattern: Pattern | None = field(default=None, compare=False)


@dataclass(frozen=True)
class LabelBool:
    op: Literal["and", "or"]
    left: LabelExpr
    right: LabelExpr


LabelExpr = LabelCompare | LabelBool


@dataclass(frozen=True)
class LabelFilterStage:
    expr: LabelExpr


@dataclass(frozen=True)
class DropKeepStage:
    """`| drop a, b="x"` or `| keep a, b`: bare names, or matchers on the label's value."""

    keep: bool
    names: tuple[str, ...]
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class LineFormatStage:
    """A plain template: literal text and `{{.label}}` references, nothing else."""

    parts: tuple[tuple[bool, str], ...]  # (is_label, text)


Stage = LineFilter | ParserStage | LabelFilterStage | DropKeepStage | LineFormatStage


@dataclass(frozen=True)
class LogQuery:
    selector: Selector
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class RangeAgg:
    op: RangeOp
    log: LogQuery
    range_ns: int


@dataclass(frozen=True)
class Grouping:
    without: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class VectorAgg:
    op: AggOp
    inner: MetricExpr
    grouping: Grouping | None
    param: int | None = None  # topk's k


@dataclass(frozen=True)
class NumberLit:
    value: float


@dataclass(frozen=True)
class VectorLit:
    """`vector(n)`: one series without labels, n at every step."""

    value: float


@dataclass(frozen=True)
class BinaryOp:
    op: ArithOp
    left: MetricExpr
    right: MetricExpr


MetricExpr = RangeAgg | VectorAgg | NumberLit | VectorLit | BinaryOp
Expr = LogQuery | MetricExpr


def log_queries(expr: Expr) -> list[LogQuery]:
    """Every log query inside `expr`, in order."""
    if isinstance(expr, LogQuery):
        return [expr]
    if isinstance(expr, RangeAgg):
        return [expr.log]
    if isinstance(expr, VectorAgg):
        return log_queries(expr.inner)
    if isinstance(expr, BinaryOp):
        return log_queries(expr.left) + log_queries(expr.right)
    return []
