"""Figures of a benchmark: nanoseconds in milliseconds, rounding, percentiles and
the summaries each benchmark prints."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def ms(ns: float) -> float:
    return ns / 1e6


def r2(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """n, min, p50, p90, p99, max, mean; figures rounded to 0.01."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": r2(min(values)),
        "p50": r2(percentile(values, 50)),
        "p90": r2(percentile(values, 90)),
        "p99": r2(percentile(values, 99)),
        "max": r2(max(values)),
        "mean": r2(sum(values) / len(values)),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def medians(rows: Iterable[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Per-key medians of a list of dicts of figures (None entries skipped)."""
    cols: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if value is not None:
                cols.setdefault(key, []).append(value)
    return {k: r2(median(v)) for k, v in cols.items()}
