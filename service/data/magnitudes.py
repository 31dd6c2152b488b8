"""Columns whose magnitudes the engine cannot fit as given, recorded at upload and refused at submit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.data.schema import EXTREME_KEY, DatasetSchema
from service.data.spec import DesignSpec
from service.data.table import quote, short
from service.errors import InvalidDataError

# The engine's band (service.modeling.scaling.BAND, TINY; data may not import modeling, and a test
# checks that the two agree): a column whose largest magnitude lies in [2^-BAND, 2^BAND] is fitted
# as given; beyond, it is rescaled by a power of two when standardized, and refused when not. One
# whose values are all subnormal carries a few significant bits only and is always refused.
BAND = 200
LOW, HIGH = math.ldexp(1.0, -BAND), math.ldexp(1.0, BAND)
TINY = float(np.finfo(np.float64).tiny)


# Columns are measured in chunks of about this many values: one reduceat over a chunk instead of
# two numpy calls per column (100,000 three-row columns took 2.3 s one by one, 0.1 s in chunks).
_CHUNK_VALUES = 1 << 20


def extreme_magnitudes(columns: Sequence[NDArray[np.float64]]) -> dict[int, float]:
    """``{position: largest |value|}`` of the columns (of equal, nonzero length) whose largest
    magnitude, missing values ignored, lies outside the band."""
    found: dict[int, float] = {}
    if not columns or columns[0].size == 0:
        return found
    per_chunk = max(1, _CHUNK_VALUES // columns[0].size)
    for start in range(0, len(columns), per_chunk):
        chunk = columns[start : start + per_chunk]
        values = np.concatenate(chunk)
        offsets = np.arange(0, values.size, columns[0].size)
        # fmax/fmin skip NaN (an all-missing column gives NaN, which is no extreme).
        with np.errstate(invalid="ignore"):
            largest = np.maximum(np.fmax.reduceat(values, offsets), -np.fmin.reduceat(values, offsets))
        for j in np.flatnonzero(extreme_maxima(largest)):
            found[start + int(j)] = float(largest[j])
    return found


def extreme_maxima(maxima: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which entries of per-column largest magnitudes lie outside the band (vectorized, for sparse tables)."""
    result: NDArray[np.bool_] = (maxima > 0.0) & ((maxima < LOW) | (maxima > HIGH))
    return result


def check_magnitudes(schema: DatasetSchema, spec: DesignSpec, standardize: bool) -> None:
    """422 (InvalidDataError naming the column) for what ``service.modeling.scaling`` would refuse in the
    job: a feature, or a gaussian target, whose values are all subnormal; a feature outside the band
    under ``standardize: false``, whose raw coefficient's square would overflow or underflow.

    Walks the recorded extremes only (none in most tables). Datasets stored before the extremes were
    recorded have none: their jobs still meet the same refusals, as job problems.
    """
    if not schema.extremes:
        return
    if spec.family == "gaussian":
        largest = schema.extremes.get(spec.target)
        if largest is not None and largest < TINY:
            raise _too_small(f"the target {quote(spec.target)}", spec.target, largest)
    for name, largest in schema.extremes.items():
        if not schema.is_feature(name, spec):
            continue
        if largest < TINY:
            raise _too_small(f"column {quote(name)}", name, largest)
        if not standardize:
            raise InvalidDataError(
                f"the largest magnitude in column {quote(name)} is {largest:.3g}; with standardize: false "
                f"it must lie within {LOW:.3g} to {HIGH:.3g} (standardize, or rescale the column)",
                column=short(name),
            )


def _too_small(label: str, name: str, largest: float) -> InvalidDataError:
    return InvalidDataError(
        f"the values of {label} are all below {TINY:.3g} in magnitude (the largest is {largest:.3g}): "
        "too small to fit; rescale it",
        column=short(name),
    )


def without_extremes(summary: dict[str, Any]) -> dict[str, Any]:
    """A column summary as the API shows it: the recorded magnitude is the catalog's own."""
    if EXTREME_KEY not in summary:
        return summary
    return {key: value for key, value in summary.items() if key != EXTREME_KEY}
