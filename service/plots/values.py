"""Input cleaning for the plots: finite, clamped numbers and log10 alphas from untrusted documents."""

from __future__ import annotations

import math
from typing import Any

# Clamping keeps hi - lo finite, so no scale or tick computation can overflow to inf.
LIMIT = 1e300


def finite(value: Any) -> float | None:
    # bool is an int to Python but never a number in these documents.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    # Below 1e-300 is zero for a plot, and keeps every step and span a normal float (log10 of 0 fails).
    return 0.0 if abs(number) < 1e-300 else max(-LIMIT, min(LIMIT, number))


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def log_alphas(values: Any) -> list[float | None]:
    """log10 of each alpha; a missing or non-positive alpha has no position."""
    logs: list[float | None] = []
    for value in as_list(values):
        alpha = finite(value)
        logs.append(math.log10(alpha) if alpha is not None and alpha > 0 else None)
    return logs


def log_alpha(value: Any) -> float | None:
    return log_alphas([value])[0]
