"""Metric queries over samples: Loki's sliding `[range]` at every step, aggregations and arithmetic.

A range aggregation at step t sees the samples with t - range < timestamp <= t, as Loki's range
vector iterator does. A step whose window holds no sample has no point (not a zero).
Arithmetic follows Go's float64: x/0 is ±Inf, 0/0 NaN, and two vectors meet on identical labels.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from logriver.adapters.loki.logql_ast import (
    BinaryOp,
    Grouping,
    MetricExpr,
    NumberLit,
    RangeAgg,
    VectorAgg,
    VectorLit,
)

LabelKey = tuple[tuple[str, str], ...]
Points = dict[int, float]  # step index -> value
Series = dict[LabelKey, Points]


@dataclass(frozen=True)
class Scalar:
    value: float


@dataclass(frozen=True)
class SampleSet:
    """One range aggregation's samples by series: timestamps (sorted) and line sizes in bytes."""

    timestamps: list[int]
    sizes: list[int]


Samples = Mapping[RangeAgg, Mapping[LabelKey, SampleSet]]


def label_key(labels: Mapping[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def evaluate(expr: MetricExpr, steps: Sequence[int], samples: Samples) -> Series | Scalar:
    """The value of `expr` at each step (nanosecond times, ascending)."""
    if isinstance(expr, NumberLit):
        return Scalar(expr.value)
    if isinstance(expr, VectorLit):
        return {(): dict.fromkeys(range(len(steps)), expr.value)}
    if isinstance(expr, RangeAgg):
        return _range(expr, steps, samples[expr])
    if isinstance(expr, VectorAgg):
        inner = evaluate(expr.inner, steps, samples)
        if isinstance(inner, Scalar):
            inner = {(): dict.fromkeys(range(len(steps)), inner.value)}
        return _aggregate(expr, inner)
    return _binary(expr, evaluate(expr.left, steps, samples), evaluate(expr.right, steps, samples))


def _range(agg: RangeAgg, steps: Sequence[int], series: Mapping[LabelKey, SampleSet]) -> Series:
    seconds = agg.range_ns / 1e9
    out: Series = {}
    for key, samples in series.items():
        prefix = [0]
        for size in samples.sizes:
            prefix.append(prefix[-1] + size)
        points: Points = {}
        for index, t in enumerate(steps):
            lo = bisect_right(samples.timestamps, t - agg.range_ns)
            hi = bisect_right(samples.timestamps, t)
            if hi == lo:
                continue
            count, size = hi - lo, prefix[hi] - prefix[lo]
            value = {"count_over_time": count, "rate": count / seconds, "bytes_over_time": size}.get(
                agg.op, size / seconds
            )
            points[index] = float(value)
        if points:
            out[key] = points
    return out


def _group_key(key: LabelKey, grouping: Grouping | None) -> LabelKey:
    if grouping is None:
        return ()
    if grouping.without:
        return tuple((k, v) for k, v in key if k not in grouping.labels)
    return tuple((k, v) for k, v in key if k in grouping.labels)


def _aggregate(agg: VectorAgg, inner: Series) -> Series:
    if agg.op == "topk":
        return _topk(agg, inner)
    groups: dict[LabelKey, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, points in inner.items():
        group = groups[_group_key(key, agg.grouping)]
        for index, value in points.items():
            group[index].append(value)
    out: Series = {}
    for key, by_step in groups.items():
        out[key] = {index: _reduce(agg.op, values) for index, values in by_step.items()}
    return out


def _reduce(op: str, values: list[float]) -> float:
    if op == "sum":
        return math.fsum(values)
    if op == "count":
        return float(len(values))
    if op == "avg":
        return math.fsum(values) / len(values)
    if op == "min":
        return _nan_min(values)
    return _nan_max(values)


def _nan_min(values: list[float]) -> float:
    # Prometheus and Loki ignore NaN in min and max unless every value is NaN.
    real = [v for v in values if not math.isnan(v)]
    return min(real) if real else math.nan


def _nan_max(values: list[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return max(real) if real else math.nan


def _topk(agg: VectorAgg, inner: Series) -> Series:
    k = agg.param or 1
    by_step: dict[tuple[LabelKey, int], list[tuple[float, LabelKey]]] = defaultdict(list)
    for key, points in inner.items():
        for index, value in points.items():
            by_step[(_group_key(key, agg.grouping), index)].append((value, key))
    out: Series = defaultdict(dict)
    for (_, index), candidates in by_step.items():
        # Largest first; NaN last; ties by labels so the answer is the same every time.
        candidates.sort(key=lambda item: (math.isnan(item[0]), -item[0] if not math.isnan(item[0]) else 0, item[1]))
        for value, key in candidates[:k]:
            out[key][index] = value
    return dict(out)


def _binary(expr: BinaryOp, left: Series | Scalar, right: Series | Scalar) -> Series | Scalar:
    if isinstance(left, Scalar):
        if isinstance(right, Scalar):
            return Scalar(arithmetic(expr.op, left.value, right.value))
        scalar = left.value
        return {k: {i: arithmetic(expr.op, scalar, v) for i, v in p.items()} for k, p in right.items()}
    if isinstance(right, Scalar):
        scalar = right.value
        return {k: {i: arithmetic(expr.op, v, scalar) for i, v in p.items()} for k, p in left.items()}
    out: Series = {}
    for key, points in left.items():
        other = right.get(key)
        if other is None:
            continue
        common = {i: arithmetic(expr.op, v, other[i]) for i, v in points.items() if i in other}
        if common:
            out[key] = common
    return out


def arithmetic(op: str, a: float, b: float) -> float:
    """Go's float64 arithmetic, which Loki uses; Python raises where Go gives ±Inf or NaN."""
    simple = {"+": a + b, "-": a - b, "*": a * b}.get(op)
    if simple is not None:
        return simple
    if op == "/":
        return _divide(a, b)
    if op == "%":
        return math.nan if b == 0 or math.isinf(a) else math.fmod(a, b)
    return _power(a, b)


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


def _power(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf if a > 0 or (b == int(b) and int(b) % 2 == 0) else -math.inf
    except ValueError:
        return math.nan


def format_value(value: float) -> str:
    """A sample value as Prometheus and Loki print it: shortest exact digits, no exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def format_time(ns: int) -> float | int:
    """A step's time in seconds, as Loki's JSON has it (whole seconds without a fraction)."""
    return ns // 1_000_000_000 if ns % 1_000_000_000 == 0 else round(ns / 1e9, 3)
