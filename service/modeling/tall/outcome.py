"""Assembling a tall fit's FitOutcome exactly as ``fit_model`` does: curves, choice, path, model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.modeling.path import FittedPath
from service.modeling.results import (
    Convergence,
    CVCurve,
    CVResult,
    FitOutcome,
    PathResult,
    Selection,
)
from service.modeling.scaling import check_representable
from service.modeling.selection import best_curve, chosen_index
from service.modeling.specs import Family, FitSpec, FloatArray, IntArray

# The chosen model's training metrics, from its intercept (K',) and coefficients (p, K').
TrainMetrics = Callable[[FloatArray, FloatArray], dict[str, float]]


@dataclass(frozen=True)
class Candidate:
    """One l1_ratio's full-data path, its deviance ratios and, with CV, its curve."""

    l1_ratio: float
    fitted: FittedPath
    deviance_ratio: FloatArray
    curve: CVCurve | None


def _path_result(candidate: Candidate) -> PathResult:
    fitted, solution = candidate.fitted, candidate.fitted.solution
    return PathResult(
        alphas=fitted.alphas,
        l1_ratio=candidate.l1_ratio,
        coef=fitted.coef,
        coef_std=fitted.coef_std,
        intercept=fitted.intercept,
        n_selected=np.count_nonzero(np.any(fitted.coef != 0.0, axis=2), axis=1).astype(np.int64),
        deviance_ratio=candidate.deviance_ratio,
        n_iter=solution.n_iter,
        dual_gap=solution.dual_gap,
        converged=solution.converged,
    )


def _choose(spec: FitSpec, candidates: list[Candidate]) -> tuple[Candidate, int]:
    curves = [c.curve for c in candidates if c.curve is not None]
    if not curves:
        only = candidates[0]
        return only, only.fitted.alphas.shape[0] - 1
    best = candidates[best_curve(curves)]
    assert best.curve is not None and spec.cv is not None
    return best, 0 if spec.alpha is not None else chosen_index(best.curve, spec.cv.rule)


def assemble(
    spec: FitSpec,
    candidates: list[Candidate],
    folds: IntArray | None,
    train_metrics: TrainMetrics,
) -> FitOutcome:
    """The FitOutcome of ``fit_model``'s ``_outcome`` (without relax) from the candidates."""
    chosen, i = _choose(spec, candidates)
    path = _path_result(chosen)
    cv, selection, cv_metrics = None, None, None
    curve = chosen.curve
    if spec.cv is not None and curve is not None and folds is not None:
        curves = tuple(c.curve for c in candidates if c.curve is not None)
        cv = CVResult(curves, folds, chosen.l1_ratio, spec.cv.rule)
        cv_metrics = {str(curve.metric): float(curve.mean[i]), "se": float(curve.se[i])}
        if spec.alpha is None:
            selection = Selection(spec.cv.rule, curve.alpha_min, curve.alpha_1se, chosen.l1_ratio)
    intercept: FloatArray = path.intercept[i].copy()
    coef: FloatArray = path.coef[i].copy()
    standardization = chosen.fitted.standardization
    outcome = FitOutcome(
        family=spec.family,
        n_classes=1 if spec.family == Family.GAUSSIAN else 2,
        alpha=float(path.alphas[i]),
        l1_ratio=chosen.l1_ratio,
        intercept=intercept,
        coef=coef,
        coef_std=path.coef_std[i].copy(),
        path=path,
        cv=cv,
        selection=selection,
        convergence=Convergence(bool(path.converged[i]), int(path.n_iter[i]), float(path.dual_gap[i])),
        train_metrics=train_metrics(intercept, coef),
        cv_metrics=cv_metrics,
        x_mean=standardization.mean,
        x_scale=standardization.scale,
    )
    check_representable(outcome, spec.column_names, spec.target_name)
    return outcome
