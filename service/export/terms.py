"""What an export writes: each feature's encoding and coefficients on the original scale at one alpha."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.data.encoder import FeatureEncoding
from service.data.spec import MissingPolicy
from service.modeling import Family, coefficients_at
from service.worker.artifact import ClassLabel, ModelArtifact


@dataclass(frozen=True, eq=False)
class ExportTerms:
    """A model reduced to what scoring needs, in design-column order.

    ``intercept`` (K',) and ``coef`` (p, K') are on the original scale (the fit already folded the
    standardization in): K' is 1 for gaussian and binomial (class 1's log-odds), K for multinomial.
    ``alpha`` is the one the coefficients belong to. ``eq=False``: arrays have no single-valued equality.
    """

    model_id: str
    name: str | None
    target: str
    family: Family
    missing: MissingPolicy
    features: tuple[FeatureEncoding, ...]
    classes: list[ClassLabel] | None
    alpha: float
    l1_ratio: float
    intercept: NDArray[np.float64]
    coef: NDArray[np.float64]

    def blocks(self) -> list[tuple[FeatureEncoding, NDArray[np.float64]]]:
        """Each feature with its rows of ``coef``: one for a numeric feature, one per level otherwise."""
        result = []
        start = 0
        for feature in self.features:
            width = len(feature.design_columns)
            result.append((feature, self.coef[start : start + width]))
            start += width
        return result


def export_terms(
    artifact: ModelArtifact, alpha: float | None, *, model_id: str, name: str | None
) -> ExportTerms:
    """The terms at the model's chosen alpha, or at ``alpha`` on its path (interpolated in log(alpha)
    between two path points, as predictions are; ValidationError on ``alpha`` outside the path)."""
    outcome = artifact.outcome
    if alpha is None:
        intercept, coef, at = outcome.intercept, outcome.coef, float(outcome.alpha)
    else:
        intercept, coef = coefficients_at(outcome.path, alpha)
        at = float(alpha)
    return ExportTerms(
        model_id=model_id,
        name=name,
        target=artifact.target,
        family=artifact.family,
        missing=artifact.encoder.missing,
        features=artifact.encoder.features,
        classes=None if artifact.classes is None else list(artifact.classes),
        alpha=at,
        l1_ratio=float(outcome.l1_ratio),
        intercept=np.asarray(intercept, dtype=np.float64).reshape(-1),
        coef=np.asarray(coef, dtype=np.float64).reshape(len(artifact.encoder.design_columns), -1),
    )
