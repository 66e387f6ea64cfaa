"""The `q` syntax: words, "phrases", field:value, AND / OR / NOT, parentheses.

Parsed here rather than handed to Elasticsearch's query_string so that errors name the
position and the fields a query may touch are exactly `message`, `labels.<key>` and
`fields.<key>`; tenant isolation is a separate filter no query text can remove.

    query   := or
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*        adjacent terms mean AND
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or ")" | [field ":"] (word | "phrase")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from logriver.core.errors import InvalidQueryError

MAX_QUERY_LENGTH = 4096
MAX_DEPTH = 32
# Each term is a clause; Elasticsearch refuses queries past its clause count (a heap-sized limit).
MAX_TERMS = 256

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\()|(?P<rparen>\))|
        (?P<phrase>"(?:[^"\\]|\\.)*")|(?P<open_quote>")|
        (?P<word>[^\s()"]+)
    )""",
    re.VERBOSE,
)
_FIELD = re.compile(r"^(message|labels\.[^:\s]+|fields\.[^:\s]+):(.*)$", re.DOTALL)
_ANY_FIELD = re.compile(r"^([A-Za-z_@][\w.@-]*):(.+)$", re.DOTALL)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def parse_query(text: str) -> dict[str, Any]:
    """Elasticsearch query DSL for `text`; raises InvalidQueryError naming what is wrong."""
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidQueryError(f"q is {len(text)} characters; the limit is {MAX_QUERY_LENGTH}")
    tokens = _tokenize(text)
    if not tokens:
        raise InvalidQueryError("q is empty; leave it out to match every line")
    terms = sum(1 for tok in tokens if tok.kind not in {"lparen", "rparen"})
    if terms > MAX_TERMS:
        raise InvalidQueryError(
            f"q has {terms} terms and operators; the limit is {MAX_TERMS}", {"max_terms": MAX_TERMS}
        )
    parser = _Parser(tokens)
    query = parser.parse_or(0)
    tok = parser.peek()
    if tok is not None:
        raise InvalidQueryError(f"unexpected {tok.text!r} at position {tok.pos}", {"position": tok.pos})
    return query


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise InvalidQueryError(f"cannot read q at position {pos}", {"position": pos})
        kind = match.lastgroup
        start = match.start(kind)
        if kind == "open_quote":
            raise InvalidQueryError(f"unterminated quote at position {start}", {"position": start})
        tokens.append(_Tok(kind, match.group(kind), start))
        pos = match.end()
    return _join_field_phrases(tokens)


def _join_field_phrases(tokens: list[_Tok]) -> list[_Tok]:
    """`labels.app:"my app"` tokenizes as a word ending in ':' then a phrase; rejoin them."""
    joined: list[_Tok] = []
    for tok in tokens:
        previous = joined[-1] if joined else None
        if (
            tok.kind == "phrase"
            and previous
            and previous.kind == "word"
            and previous.text.endswith(":")
            and previous.pos + len(previous.text) == tok.pos
        ):
            joined[-1] = _Tok("field_phrase", previous.text + tok.text, previous.pos)
        else:
            joined.append(tok)
    return joined


class _Parser:
    def __init__(self, tokens: list[_Tok]):
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def _is_op(self, name: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text == name

    def parse_or(self, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise InvalidQueryError(f"q nests deeper than {MAX_DEPTH} levels")
        clauses = [self.parse_and(depth)]
        while self._is_op("OR"):
            self.take()
            clauses.append(self.parse_and(depth))
        return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}

    def parse_and(self, depth: int) -> dict[str, Any]:
        clauses = [self.parse_unary(depth)]
        while True:
            tok = self.peek()
            if tok is None or tok.kind == "rparen" or self._is_op("OR"):
                break
            if self._is_op("AND"):
                self.take()
            clauses.append(self.parse_unary(depth))
        return clauses[0] if len(clauses) == 1 else {"bool": {"must": clauses}}

    def parse_unary(self, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise InvalidQueryError(f"q nests NOT and parentheses deeper than {MAX_DEPTH} levels")
        tok = self._expect_operand("NOT" if self._is_op("NOT") else None)
        if tok.kind == "word" and tok.text == "NOT":
            self.take()
            self._expect_operand("NOT")
            return {"bool": {"must_not": [self.parse_unary(depth + 1)]}}
        if tok.kind == "word" and tok.text.startswith("-") and len(tok.text) > 1:
            self.take()
            return {"bool": {"must_not": [_term_query(_Tok("word", tok.text[1:], tok.pos + 1))]}}
        return self.parse_primary(depth)

    def _expect_operand(self, after: str | None) -> _Tok:
        tok = self.peek()
        if tok is None:
            where = f"after {after}" if after else "at the end"
            raise InvalidQueryError(f"q is missing a term {where}")
        if tok.kind == "rparen" or (tok.kind == "word" and tok.text in ("AND", "OR")):
            raise InvalidQueryError(f"expected a term at position {tok.pos}, found {tok.text!r}", {"position": tok.pos})
        return tok

    def parse_primary(self, depth: int) -> dict[str, Any]:
        tok = self.take()
        if tok.kind == "lparen":
            inner = self.parse_or(depth + 1)
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise InvalidQueryError(f"the parenthesis at position {tok.pos} is never closed", {"position": tok.pos})
            self.take()
            return inner
        return _term_query(tok)


def _term_query(tok: _Tok) -> dict[str, Any]:
    if tok.kind == "phrase":
        return {"match_phrase": {"message": _unquote(tok.text)}}
    match = _FIELD.match(tok.text)
    if match is None:
        other = _ANY_FIELD.match(tok.text)
        if other and not other.group(2).startswith("//"):
            raise InvalidQueryError(
                f"unknown field {other.group(1)!r} at position {tok.pos}; use message:, labels.<key>: or fields.<key>: "
                "(quote the term to search for the colon literally)",
                {"position": tok.pos},
            )
        return {"match": {"message": {"query": tok.text, "operator": "and"}}}
    field, value = match.group(1), match.group(2)
    if not value:
        raise InvalidQueryError(f"{field}: at position {tok.pos} has no value", {"position": tok.pos})
    if value.startswith('"'):
        value = _unquote(value)
        if field == "message":
            return {"match_phrase": {"message": value}}
    if field == "message":
        return {"match": {"message": {"query": value, "operator": "and"}}}
    return {"term": {field: value}}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])
