"""An independent reference for the conformance table: each query is built from parts that carry
their meaning as plain Python, and results are computed by brute force from the records' fields.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from tests.adapters.loki.dataset import DURATIONS, SIZES, Record

Labels = dict[str, str]
Stage = Callable[[Labels, str, Record], tuple[Labels, str] | None]


@dataclass(frozen=True)
class Part:
    text: str
    stage: Stage


def selector(text: str, pred: Callable[[Labels], bool]) -> Part:
    return Part(text, lambda labels, line, rec: (labels, line) if pred(labels) else None)


def line_filter(text: str, pred: Callable[[str], bool]) -> Part:
    return Part(text, lambda labels, line, rec: (labels, line) if pred(line) else None)


def _parsed(kind: str) -> Stage:
    def stage(labels: Labels, line: str, rec: Record) -> tuple[Labels, str]:
        out = dict(labels)
        if rec.fmt == kind or (kind == "logfmt" and rec.fmt == "logfmt"):
            for key, value in rec.fields.items():
                out[f"{key}_extracted" if key in labels else key] = value
        else:
            out["__error__"] = "JSONParserErr" if kind == "json" else "LogfmtParserErr"
        return out, line

    return stage


def parser(kind: str) -> Part:
    return Part(f"| {kind}", _parsed(kind))


def label_pred(text: str, pred: Callable[[Labels], bool]) -> Part:
    return Part(text, lambda labels, line, rec: (labels, line) if pred(labels) else None)


NO_ERROR = label_pred('| __error__=""', lambda labels: "__error__" not in labels)


def number(labels: Labels, name: str) -> float:
    return float(labels[name])


def seconds(labels: Labels, name: str) -> float:
    return DURATIONS[labels[name]]


def size(labels: Labels, name: str) -> float:
    return SIZES[labels[name]]


def drop(names: list[str]) -> Part:
    return Part(
        "| drop " + ", ".join(names),
        lambda labels, line, rec: ({k: v for k, v in labels.items() if k not in names}, line),
    )


def keep(names: list[str]) -> Part:
    return Part(
        "| keep " + ", ".join(names), lambda labels, line, rec: ({k: v for k, v in labels.items() if k in names}, line)
    )


def line_format(template: str, render: Callable[[Labels], str]) -> Part:
    return Part(f'| line_format "{template}"', lambda labels, line, rec: (labels, render(labels)))


def run(parts: list[Part], rec: Record) -> tuple[Labels, str] | None:
    labels, line = dict(rec.labels), rec.text
    for part in parts:
        result = part.stage(labels, line, rec)
        if result is None:
            return None
        labels, line = result
    return labels, line


def log_text(parts: list[Part]) -> str:
    return " ".join(part.text for part in parts)


def expected_entries(
    records: list[Record], parts: list[Part], start: int, end: int, limit: int, forward: bool
) -> list[tuple[int, str, tuple[tuple[str, str], ...]]]:
    found = []
    for rec in records:
        if not start <= rec.ts < end:
            continue
        result = run(parts, rec)
        if result is not None:
            found.append((rec.ts, result[1], tuple(sorted(result[0].items()))))
    found.sort(key=lambda item: item[0], reverse=not forward)
    return found[:limit]


RANGE_VALUE = {
    "count_over_time": lambda lines, secs: float(len(lines)),
    "rate": lambda lines, secs: len(lines) / secs,
    "bytes_over_time": lambda lines, secs: float(sum(len(x.encode()) for x in lines)),
    "bytes_rate": lambda lines, secs: sum(len(x.encode()) for x in lines) / secs,
}

Vector = dict[tuple[tuple[str, str], ...], float]


def range_vector(records: list[Record], parts: list[Part], op: str, range_s: int, t: int) -> Vector:
    lines: dict[tuple[tuple[str, str], ...], list[str]] = defaultdict(list)
    for rec in records:
        if t - range_s * 1_000_000_000 < rec.ts <= t:
            result = run(parts, rec)
            if result is not None:
                lines[tuple(sorted(result[0].items()))].append(result[1])
    return {key: RANGE_VALUE[op](values, range_s) for key, values in lines.items()}


def aggregate(op: str, vector: Vector, by: list[str] | None, without: list[str] | None, k: int = 0) -> Vector:
    def group(key: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        if by is not None:
            return tuple((n, v) for n, v in key if n in by)
        if without is not None:
            return tuple((n, v) for n, v in key if n not in without)
        return ()

    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, tuple[tuple[str, str], ...]]]] = defaultdict(list)
    for key, value in vector.items():
        groups[group(key)].append((value, key))
    if op == "topk":
        out: Vector = {}
        for members in groups.values():
            for value, key in sorted(members, key=lambda m: (-m[0], m[1]))[:k]:
                out[key] = value
        return out
    reduce = {
        "sum": math.fsum,
        "count": lambda vs: float(len(vs)),
        "avg": lambda vs: math.fsum(vs) / len(vs),
        "min": min,
        "max": max,
    }[op]
    return {g: reduce([v for v, _ in members]) for g, members in groups.items()}


def as_float(text: str) -> float:
    return float(text.replace("+Inf", "inf").replace("-Inf", "-inf"))


def contains_regex(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda line: compiled.search(line) is not None


def num_filter(text: str, name: str, convert: Callable[[Labels, str], float], test: Callable[[float], bool]) -> Part:
    """A numeric label filter with Loki's rules: lines with an error pass, lines without the label do not."""

    def pred(labels: Labels) -> bool:
        if "__error__" in labels:
            return True
        return name in labels and test(convert(labels, name))

    return label_pred(text, pred)


def str_filter(text: str, name: str, test: Callable[[str], bool]) -> Part:
    return label_pred(text, lambda labels: "__error__" in labels or test(labels.get(name, "")))
