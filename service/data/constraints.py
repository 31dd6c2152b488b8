"""Per-feature penalty factors and bounds spread over the design columns each feature becomes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from service.data.encoder import DesignEncoder
from service.data.spec import DesignSpec


@dataclass(frozen=True)
class ColumnConstraints:
    """One entry per design column, in design order, as ``modeling.FitSpec`` takes them.

    A categorical feature's penalty factor and bounds hold for each of its level columns.
    ``penalty_factors`` is None when every factor is 1, ``lower_bounds`` / ``upper_bounds`` when
    every bound on that side is absent (-inf / +inf): the fit then runs exactly as without them.
    ``column_features`` is the index of each column's feature in the encoder's feature order.
    """

    penalty_factors: tuple[float, ...] | None
    lower_bounds: tuple[float, ...] | None
    upper_bounds: tuple[float, ...] | None
    column_features: tuple[int, ...]


def column_constraints(encoder: DesignEncoder, spec: DesignSpec) -> ColumnConstraints:
    """The constraints of ``spec`` (named by feature) for the design columns of ``encoder``.

    ``spec`` has passed :func:`service.data.checks.check_design_columns`, so every name is a feature.
    """
    groups = encoder.groups
    bounds = dict(spec.bounds)
    lower = {name: -math.inf if low is None else float(low) for name, (low, _) in bounds.items()}
    upper = {name: math.inf if high is None else float(high) for name, (_, high) in bounds.items()}
    return ColumnConstraints(
        penalty_factors=_spread(groups, dict(spec.penalty_factors), 1.0),
        lower_bounds=_spread(groups, lower, -math.inf),
        upper_bounds=_spread(groups, upper, math.inf),
        column_features=encoder.column_features,
    )


def _spread(groups: list[str], values: Mapping[str, float], default: float) -> tuple[float, ...] | None:
    """Each design column's value from its feature's; None when all are the default."""
    if not values:  # the usual case: no walk of 20,000 columns to find every value the default
        return None
    spread = tuple(float(values.get(group, default)) for group in groups)
    return None if all(value == default for value in spread) else spread
