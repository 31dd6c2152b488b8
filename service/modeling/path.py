"""Regularization paths: the alpha grid, solving on the standardized design, and the PathResult."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.modeling.engine import PathProgress, PathSolution, RawMoments, alpha_max, solve_path
from service.modeling.link import path_predictors
from service.modeling.metrics import deviance, deviance_ratio, null_deviance
from service.modeling.problem import Problem
from service.modeling.results import PathResult
from service.modeling.specs import Family, FloatArray, PathSpec
from service.modeling.standardize import Standardization, fit_standardization

# When every coefficient is zero at any alpha (constant target, or no informative column) the
# grid needs some positive start; its value does not change any fitted coefficient.
DEGENERATE_ALPHA_MAX = 1.0


def alpha_grid(spec: PathSpec, start: float, n: int, p: int) -> FloatArray:
    """The explicit alphas (sorted decreasing, deduplicated) or glmnet's log-spaced grid from ``start``."""
    if spec.alphas is not None:
        return np.unique(np.asarray(spec.alphas, dtype=np.float64))[::-1].copy()
    ratio = spec.alpha_min_ratio
    if ratio is None:
        ratio = 1e-4 if n > p else 1e-2
    if not start > 0:
        start = DEGENERATE_ALPHA_MAX
    return np.geomspace(start, start * ratio, spec.n_alphas)


@dataclass(frozen=True)
class FittedPath:
    """Coefficients along ``alphas`` on both scales, and the solver's diagnostics."""

    alphas: FloatArray
    coef: FloatArray  # (m, p, K') original scale
    coef_std: FloatArray  # (m, p, K') standardized scale
    intercept: FloatArray  # (m, K') original scale
    solution: PathSolution
    standardization: Standardization


@dataclass(frozen=True)
class SolverInput:
    """A problem prepared for the solver: its standardization and the bounds on that scale."""

    problem: Problem
    standardization: Standardization
    lower: FloatArray
    upper: FloatArray

    @classmethod
    def build(cls, problem: Problem) -> SolverInput:
        pr = problem
        standardization = fit_standardization(pr.X, pr.w, pr.standardize, pr.fit_intercept)
        lower, upper = standardization.bounds(pr.lower, pr.upper)
        return cls(problem=pr, standardization=standardization, lower=lower, upper=upper)

    def alpha_max(self, l1_ratio: float) -> float:
        pr, st = self.problem, self.standardization
        return alpha_max(
            pr.X, pr.y, pr.w, pr.family, l1_ratio, pr.fit_intercept, pr.n_classes,
            pr.penalty_factors, self.lower, self.upper, center=st.mean, scale=st.scale,
            target_scale=pr.target_scale, groups=pr.groups,
        )  # fmt: skip

    def solve(
        self,
        l1_ratio: float,
        alphas: FloatArray,
        progress: PathProgress | None,
        saturation: bool = False,
        moments: RawMoments | None = None,
    ) -> FittedPath:
        """The path over ``alphas`` (a prefix of them when it stops early, plus the alpha bisected
        for exactly ``max_features`` features when there is one); ``moments`` are the design's raw
        Gram moments under these weights, when the caller has them."""
        return self.fitted(self.solution(l1_ratio, alphas, progress, saturation, moments), alphas)

    def solution(
        self,
        l1_ratio: float,
        alphas: FloatArray,
        progress: PathProgress | None,
        saturation: bool = False,
        moments: RawMoments | None = None,
    ) -> PathSolution:
        """The solver's own answer for ``solve`` (same arguments), on the standardized scale."""
        pr, st = self.problem, self.standardization
        return solve_path(
            pr.X, pr.y, pr.w, pr.family, l1_ratio, alphas, pr.fit_intercept, pr.tol, pr.max_iter, progress,
            n_classes=pr.n_classes, penalty_factors=pr.penalty_factors, lower=self.lower, upper=self.upper,
            max_features=pr.max_features, column_features=pr.column_features, saturation=saturation,
            center=st.mean, scale=st.scale, moments=moments, target_scale=pr.target_scale,
            groups=pr.groups,
        )  # fmt: skip

    def fitted(self, solution: PathSolution, alphas: FloatArray) -> FittedPath:
        """``solution`` (of ``alphas``) on both scales."""
        pr, st = self.problem, self.standardization
        coef_std = solution.coef
        coef, intercept = st.to_original(coef_std, solution.intercept)
        if pr.family == Family.MULTINOMIAL:
            # A common shift of all intercepts leaves every probability unchanged; glmnet reports
            # them centered on the original scale.
            intercept = intercept - intercept.mean(axis=1, keepdims=True)
        solved = alphas[: coef.shape[0]] if solution.alphas is None else solution.alphas
        return FittedPath(solved, coef, coef_std, intercept, solution, st)


def path_result(problem: Problem, fitted: FittedPath, l1_ratio: float) -> PathResult:
    """The public path: coefficients, selection counts and deviance ratios on the fitted data."""
    pr = problem
    null_dev = null_deviance(pr.family, pr.y, pr.w, pr.n_classes, pr.fit_intercept)
    ratios = [
        deviance_ratio(deviance(pr.family, pr.y, eta, pr.w), null_dev)
        for eta in path_predictors(pr.X, fitted.intercept, fitted.coef)
    ]
    solution = fitted.solution
    return PathResult(
        alphas=fitted.alphas,
        l1_ratio=l1_ratio,
        coef=fitted.coef,
        coef_std=fitted.coef_std,
        intercept=fitted.intercept,
        n_selected=np.count_nonzero(np.any(fitted.coef != 0.0, axis=2), axis=1).astype(np.int64),
        deviance_ratio=np.asarray(ratios, dtype=np.float64),
        n_iter=solution.n_iter,
        dual_gap=solution.dual_gap,
        converged=solution.converged,
    )
