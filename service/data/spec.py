"""What a fit asks of a table: target, features, family, missing-value policy, weights and folds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

# The wire values of JobCreate.family; modeling owns their meaning, data only needs the target kind.
FAMILIES = ("gaussian", "binomial", "multinomial")


class MissingPolicy(StrEnum):
    ERROR = "error"
    MEAN = "mean"


# A feature's coefficient box ``(lower, upper)`` on the original scale; None is no bound on that side.
Bound = tuple[float | None, float | None]


class TargetKind(StrEnum):
    REGRESSION = "regression"
    CLASSIFICATION = "classification"

    @classmethod
    def of(cls, family: str) -> TargetKind:
        """``gaussian`` is regression; ``binomial`` and ``multinomial`` are classification."""
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}")
        return cls.REGRESSION if family == "gaussian" else cls.CLASSIFICATION


@dataclass(frozen=True)
class DesignSpec:
    """The columns a fit uses, named as in JobCreate.

    ``features`` None means every column but the target, the weights column and the fold column.
    ``family`` is the JobCreate string (``gaussian`` | ``binomial`` | ``multinomial``); it is checked
    by :func:`service.data.design.check_design_columns`, which reports it as a validation error.
    ``penalty_factors`` and ``bounds`` are ``(feature, value)`` pairs as in JobCreate's dicts; a
    feature not named keeps factor 1 and no bounds, and a categorical feature's value holds for each
    of its levels (see :mod:`service.data.constraints`).
    A list for ``features``, a string for ``missing`` or a dict for ``penalty_factors`` / ``bounds``
    is accepted and normalised.
    """

    target: str
    features: tuple[str, ...] | None
    family: str
    missing: MissingPolicy = MissingPolicy.ERROR
    weights_column: str | None = None
    fold_column: str | None = None
    penalty_factors: tuple[tuple[str, float], ...] = ()
    bounds: tuple[tuple[str, Bound], ...] = ()

    def __post_init__(self) -> None:
        if self.features is not None and not isinstance(self.features, tuple):
            object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "missing", MissingPolicy(self.missing))
        object.__setattr__(self, "penalty_factors", _pairs(self.penalty_factors))
        bounds = tuple((name, (lower, upper)) for name, (lower, upper) in _pairs(self.bounds))
        object.__setattr__(self, "bounds", bounds)

    @cached_property
    def feature_set(self) -> frozenset[str] | None:
        """``features`` as a set, for membership tests (None when defaulted)."""
        return None if self.features is None else frozenset(self.features)

    def feature_names(self, names: Sequence[str]) -> tuple[str, ...]:
        """The features in use, given the dataset's column ``names`` (in dataset order when defaulted)."""
        if self.features is not None:
            return self.features
        reserved = {self.target, self.weights_column, self.fold_column}
        return tuple(n for n in names if n not in reserved)


def _pairs(value: Any) -> tuple[tuple[str, Any], ...]:
    """``(name, value)`` pairs from a mapping or an iterable of pairs."""
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((name, item) for name, item in items)
