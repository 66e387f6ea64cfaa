"""A log query's stages applied to one line: filters, parsers, label filters, drop/keep, line_format.

Labels are the stream's; a parser adds what it extracts (a name already taken by a stream label
gets the suffix `_extracted`, as in Loki) and, for keys the line's text did not supply, the
line's `fields` flattened the same way. A parser that fails sets `__error__` and keeps the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from logriver.adapters.loki.logql_ast import (
    DropKeepStage,
    LabelBool,
    LabelCompare,
    LabelExpr,
    LabelFilterStage,
    LineFilter,
    LineFormatStage,
    LogQuery,
    ParserStage,
    Selector,
    Stage,
)
from logriver.adapters.loki.logql_lexer import bytes_value, duration_ns

ERROR_LABEL = "__error__"
JSON_ERROR = "JSONParserErr"
LOGFMT_ERROR = "LogfmtParserErr"
LABEL_FILTER_ERROR = "LabelFilterErr"
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")

# (labels, line) after the stages, or None when a stage dropped the line.
Pipeline = Callable[[dict[str, str], str, Mapping[str, Any]], tuple[dict[str, str], str] | None]


def selector_matches(selector: Selector, labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in selector.matchers)


def build_pipeline(query: LogQuery) -> Pipeline:
    """One function that runs every stage of `query` on a line."""
    stages = query.stages

    def run(labels: dict[str, str], line: str, fields: Mapping[str, Any]) -> tuple[dict[str, str], str] | None:
        current = dict(labels)
        stream_names = frozenset(labels)
        for stage in stages:
            result = _apply(stage, current, line, fields, stream_names)
            if result is None:
                return None
            current, line = result
        return current, line

    return run


def _apply(
    stage: Stage, labels: dict[str, str], line: str, fields: Mapping[str, Any], stream: frozenset[str]
) -> tuple[dict[str, str], str] | None:
    if isinstance(stage, LineFilter):
        return (labels, line) if line_filter_passes(stage, line) else None
    if isinstance(stage, ParserStage):
        _parse_into(stage.kind, labels, line, fields, stream)
        return labels, line
    if isinstance(stage, LabelFilterStage):
        return (labels, line) if _label_expr(stage.expr, labels) else None
    if isinstance(stage, DropKeepStage):
        return _drop_keep(stage, labels), line
    return labels, _format(stage, labels)


def line_filter_passes(stage: LineFilter, line: str) -> bool:
    if stage.op == "|=":
        return any(value in line for value in stage.values)
    if stage.op == "!=":
        return not any(value in line for value in stage.values)
    found = any(pattern.search(line) is not None for pattern in stage.patterns)
    return found if stage.op == "|~" else not found


def _parse_into(
    kind: str, labels: dict[str, str], line: str, fields: Mapping[str, Any], stream: frozenset[str]
) -> None:
    extracted = parse_json(line) if kind == "json" else parse_logfmt(line)
    if extracted is None:
        labels[ERROR_LABEL] = JSON_ERROR if kind == "json" else LOGFMT_ERROR
        extracted = {}
    for key, value in flatten(fields).items():
        extracted.setdefault(key, value)
    for key, value in extracted.items():
        name = f"{key}_extracted" if key in stream else key
        labels[name] = value


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested objects as `a_b` names, values as text; arrays are skipped, as Loki's json parser does."""
    out: dict[str, str] = {}
    for key, item in value.items():
        name = prefix + _NOT_NAME.sub("_", str(key))
        if isinstance(item, Mapping):
            out.update(flatten(item, name + "_"))
        elif isinstance(item, list):
            continue
        elif isinstance(item, bool):
            out[name] = "true" if item else "false"
        elif item is None:
            out[name] = ""
        else:
            out[name] = str(item)
    return out


def parse_json(line: str) -> dict[str, str] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return flatten(value) if isinstance(value, dict) else None


_LOGFMT_PAIR = re.compile(r'\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?')


def parse_logfmt(line: str) -> dict[str, str] | None:
    """`key=value key="quoted value" flag` pairs; a stray quote or `=` makes it an error."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(line):
        if line[pos:].strip() == "":
            break
        match = _LOGFMT_PAIR.match(line, pos)
        if match is None or match.end() == pos:
            return None
        key, raw = match.group(1), match.group(2)
        value = "" if raw is None else _unquote_logfmt(raw)
        out[_NOT_NAME.sub("_", key)] = value
        pos = match.end()
        if pos < len(line) and not line[pos].isspace():
            return None
    return out


def _unquote_logfmt(raw: str) -> str:
    if not raw.startswith('"'):
        return raw
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[1:-1]
    return value if isinstance(value, str) else raw[1:-1]


def _label_expr(expr: LabelExpr, labels: dict[str, str]) -> bool:
    if isinstance(expr, LabelBool):
        if expr.op == "and":
            return _label_expr(expr.left, labels) and _label_expr(expr.right, labels)
        # Loki evaluates both sides of `or`: either may mark the line with an error.
        left = _label_expr(expr.left, labels)
        right = _label_expr(expr.right, labels)
        return left or right
    return _compare(expr, labels)


def _compare(cmp: LabelCompare, labels: dict[str, str]) -> bool:
    """Loki's rules: once a line has an error, only filters on `__error__` can drop it; a
    numeric filter drops a line without the label and marks one whose value is not a number."""
    if cmp.name != ERROR_LABEL and ERROR_LABEL in labels:
        return True
    if cmp.kind != "string" and cmp.name not in labels:
        return False
    actual = labels.get(cmp.name, "")
    if cmp.kind == "string":
        return _string_compare(cmp, actual)
    number = _as_number(cmp.kind, actual)
    if number is None:
        # Loki keeps the line and marks it, so `| __error__=""` can drop it afterwards.
        labels[ERROR_LABEL] = LABEL_FILTER_ERROR
        return True
    return _order(cmp.op, number, cmp.number)


def _string_compare(cmp: LabelCompare, actual: str) -> bool:
    if cmp.op in ("=", "=="):
        return actual == cmp.text
    if cmp.op == "!=":
        return actual != cmp.text
    assert cmp.pattern is not None
    found = cmp.pattern.fullmatch(actual) is not None
    return found if cmp.op == "=~" else not found


def _as_number(kind: str, text: str) -> float | None:
    if kind == "duration":
        ns = duration_ns(text.strip())
        return None if ns is None else ns / 1e9
    if kind == "bytes":
        return bytes_value(text.strip())
    try:
        return float(text)
    except ValueError:
        return None


def _order(op: str, left: float, right: float) -> bool:
    if op in ("=", "=="):
        return left == right
    if op == "!=":
        return left != right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    return left <= right


def _drop_keep(stage: DropKeepStage, labels: dict[str, str]) -> dict[str, str]:
    def named(name: str) -> bool:
        if name in stage.names:
            return True
        return any(m.name == name and m.matches(labels[name]) for m in stage.matchers)

    if stage.keep:
        return {k: v for k, v in labels.items() if named(k)}
    return {k: v for k, v in labels.items() if not named(k)}


def _format(stage: LineFormatStage, labels: dict[str, str]) -> str:
    return "".join(labels.get(text, "") if is_label else text for is_label, text in stage.parts)
