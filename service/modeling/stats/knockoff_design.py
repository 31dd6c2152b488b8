"""From a raw design to its knockoff pair: the columns' scaling, Sigma (Gram or Ledoit-Wolf), s.

Fixed-X works on the centred unit-norm columns, whose Gram matrix is Sigma; model-X on the
columns standardized to mean 0 and SD 1, with Sigma their Ledoit-Wolf shrunk covariance
(scikit-learn's ``ledoit_wolf``) or a known covariance, rescaled to a correlation matrix. The
constructions themselves are in ``knockoff_construction``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from sklearn.covariance import ledoit_wolf

from service.errors import InvalidDataError
from service.modeling.specs import Checkpoint, FloatArray
from service.modeling.stats.knockoff_construction import (
    equicorrelated_s,
    fixed_x_knockoffs,
    model_x_knockoffs,
    sdp_s,
    smallest_eigenvalue,
)

# Below this smallest eigenvalue of the centred unit-norm Gram matrix, s ~ 0 and fixed-X knockoffs
# would copy X (no power): "auto" takes model-X, an explicit "fixed-x" is refused.
FIXED_X_MIN_EIGENVALUE = 1e-8
# The share of the progress fraction spent on building knockoffs (the lasso with CV is the rest).
CONSTRUCTION_SHARE = 0.1


class KnockoffMethod(StrEnum):
    AUTO = "auto"
    FIXED_X = "fixed-x"
    MODEL_X = "model-x"


class Construction(StrEnum):
    AUTO = "auto"
    SDP = "sdp"
    EQUICORRELATED = "equicorrelated"


@dataclass(frozen=True)
class KnockoffPair:
    """The standardized design (n, p), its knockoffs (n, p) and how they were made."""

    X: FloatArray
    knockoffs: FloatArray
    s: FloatArray
    method: KnockoffMethod
    shrinkage: float | None


def _s_vector(sigma: FloatArray, construction: Construction, checkpoint: Checkpoint | None) -> FloatArray:
    if construction == Construction.EQUICORRELATED:
        return equicorrelated_s(sigma)

    def report(step: int) -> None:
        if checkpoint is not None:
            # The barrier takes about seven outer steps; each is a fraction of construction.
            checkpoint(CONSTRUCTION_SHARE * min(step + 1, 8) / 8, "knockoffs")

    return sdp_s(sigma, on_step=report)


@dataclass(frozen=True)
class BuildOptions:
    """The s construction, whether fixed-X may fall back to model-X (auto), a known covariance."""

    construction: Construction
    auto: bool
    checkpoint: Checkpoint | None
    covariance: FloatArray | None


def build_fixed_x(X: FloatArray, options: BuildOptions, rng: np.random.Generator) -> KnockoffPair:
    """Fixed-X knockoffs of the non-constant columns X (n >= 2p + 1), or model-X if auto and collinear."""
    centred = X - X.mean(axis=0)
    unit = centred / np.linalg.norm(centred, axis=0)
    sigma = unit.T @ unit
    if smallest_eigenvalue(sigma) < FIXED_X_MIN_EIGENVALUE:
        if options.auto:
            return build_model_x(X, options, rng)
        raise InvalidDataError(
            "The design's columns are (nearly) collinear: fixed-X knockoffs would have no power; "
            "use knockoffs.method model-x."
        )
    s = _s_vector(sigma, options.construction, options.checkpoint)
    return KnockoffPair(unit, fixed_x_knockoffs(unit, s, rng), s, KnockoffMethod.FIXED_X, None)


def build_model_x(X: FloatArray, options: BuildOptions, rng: np.random.Generator) -> KnockoffPair:
    """Gaussian model-X knockoffs of the non-constant columns X, Sigma estimated unless known."""
    standardized = (X - X.mean(axis=0)) / X.std(axis=0)
    shrinkage: float | None = None
    if options.covariance is None:
        covariance, estimated = ledoit_wolf(standardized, assume_centered=True)
        shrinkage = float(estimated)
    else:
        covariance = options.covariance
    scale = np.sqrt(np.diag(covariance))
    sigma = covariance / np.outer(scale, scale)
    s = _s_vector(sigma, options.construction, options.checkpoint)
    knockoffs = model_x_knockoffs(standardized, sigma, s, rng)
    return KnockoffPair(standardized, knockoffs, s, KnockoffMethod.MODEL_X, shrinkage)
