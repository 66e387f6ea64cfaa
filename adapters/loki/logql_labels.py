"""Label filter expressions after a pipe: `status >= 500 and (level="error" or duration > 1s)`.

`and`, a comma and plain juxtaposition mean and; `and` binds tighter than `or`, as in Loki.
"""

from __future__ import annotations

from typing import cast

from logriver.adapters.loki.logql_ast import CompareOp, LabelBool, LabelCompare, LabelExpr
from logriver.adapters.loki.logql_lexer import Token, bytes_value, duration_ns, parse_error, unsupported
from logriver.adapters.loki.regex import RegexError, compile_re2

STRING_OPS = ("=", "!=", "=~", "!~", "==")
NUMBER_OPS = ("=", "==", "!=", ">", ">=", "<", "<=")
MAX_TERMS = 64


def parse_label_expr(tokens: list[Token], index: int) -> tuple[LabelExpr, int]:
    """The expression starting at `tokens[index]` and the index after it."""
    reader = _LabelParser(tokens, index)
    expr = reader.or_expr(0)
    return expr, reader.index


class _LabelParser:
    def __init__(self, tokens: list[Token], index: int):
        self.tokens = tokens
        self.index = index
        self.terms = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return tok

    def or_expr(self, depth: int) -> LabelExpr:
        left = self.and_expr(depth)
        while self.peek().kind == "name" and self.peek().text == "or":
            self.take()
            left = LabelBool("or", left, self.and_expr(depth))
        return left

    def and_expr(self, depth: int) -> LabelExpr:
        left = self.atom(depth)
        while True:
            tok = self.peek()
            if (tok.kind == "name" and tok.text == "and") or (tok.kind == "op" and tok.text == ","):
                self.take()
            elif not ((tok.kind == "name" and tok.text != "or" and self.peek(1).kind == "op") or tok.text == "("):
                return left
            left = LabelBool("and", left, self.atom(depth))

    def atom(self, depth: int) -> LabelExpr:
        if depth > 32:
            raise parse_error(self.peek().pos, "label filters nest deeper than 32 levels")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise parse_error(self.peek().pos, f"a label filter has more than {MAX_TERMS} comparisons")
        if self.peek().kind == "op" and self.peek().text == "(":
            self.take()
            inner = self.or_expr(depth + 1)
            closing = self.take()
            if closing.text != ")":
                raise parse_error(closing.pos, "syntax error: expected ')' to close the label filter")
            return inner
        return self.compare()

    def compare(self) -> LabelCompare:
        name = self.take()
        if name.kind != "name":
            shown = repr(name.text) if name.kind != "end" else "end of query"
            raise parse_error(name.pos, f"syntax error: expected a stage or a label filter after '|', found {shown}")
        op = self.take()
        if op.kind != "op" or op.text not in {*STRING_OPS, *NUMBER_OPS}:
            raise parse_error(op.pos, f"syntax error: expected a comparison after {name.text}")
        value = self.take()
        if value.kind == "name" and value.text == "ip":
            raise unsupported("ip() label filters")
        return _comparison(name.text, cast(CompareOp, op.text), value)


def _comparison(name: str, op: CompareOp, value: Token) -> LabelCompare:
    if value.kind == "string":
        if op not in STRING_OPS:
            raise parse_error(value.pos, f"syntax error: {op} compares numbers, durations or bytes, not strings")
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = compile_re2(f"^(?:{value.text})$")
            except RegexError as exc:
                raise parse_error(value.pos, f"invalid regular expression {value.text!r}: {exc}") from None
        return LabelCompare(name, op, "string", value.text, pattern=pattern)
    if op not in NUMBER_OPS:
        raise parse_error(value.pos, f"syntax error: {op} needs a quoted string")
    if value.kind == "number":
        return LabelCompare(name, op, "number", value.text, float(value.text))
    if value.kind == "duration":
        seconds = (duration_ns(value.text) or 0) / 1e9
        return LabelCompare(name, op, "duration", value.text, seconds)
    if value.kind == "bytes":
        return LabelCompare(name, op, "bytes", value.text, bytes_value(value.text) or 0.0)
    shown = repr(value.text) if value.kind != "end" else "end of query"
    raise parse_error(value.pos, f"syntax error: expected a value after {name} {op}, found {shown}")
