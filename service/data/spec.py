"""What a fit asks of a table: target, features, family, missing-value policy, weights and folds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# The wire values of JobCreate.family; modeling owns their meaning, data only needs the target kind.
FAMILIES = ("gaussian", "binomial", "multinomial")


class MissingPolicy(StrEnum):
    ERROR = "error"
    MEAN = "mean"


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
    A list for ``features`` or a string for ``missing`` is accepted and normalised.
    """

    target: str
    features: tuple[str, ...] | None
    family: str
    missing: MissingPolicy = MissingPolicy.ERROR
    weights_column: str | None = None
    fold_column: str | None = None

    def __post_init__(self) -> None:
        if self.features is not None and not isinstance(self.features, tuple):
            object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "missing", MissingPolicy(self.missing))

    def feature_names(self, names: Sequence[str]) -> tuple[str, ...]:
        """The features in use, given the dataset's column ``names`` (in dataset order when defaulted)."""
        if self.features is not None:
            return self.features
        reserved = {self.target, self.weights_column, self.fold_column}
        return tuple(n for n in names if n not in reserved)
