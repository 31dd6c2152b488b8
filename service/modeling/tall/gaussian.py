"""The gaussian tall fit: one moment pass, then paths and CV from the moments in this process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.errors import InvalidDataError
from service.modeling.cv import cv_curve
from service.modeling.engine import GramMoments, moment_alpha_max, solve_moment_path
from service.modeling.metrics import deviance_ratio
from service.modeling.path import FittedPath, alpha_grid
from service.modeling.progress import Progress
from service.modeling.results import CVCurve, FitOutcome
from service.modeling.specs import Checkpoint, FitSpec, FloatArray, IntArray
from service.modeling.tall.blocks import Block, MapReduce, Part
from service.modeling.tall.checks import ColumnOptions, check_moments
from service.modeling.tall.moments import FoldMoments, MomentStep, residual_squares
from service.modeling.tall.outcome import Candidate, assemble
from service.modeling.tall.standardization import moment_standardization
from service.modeling.validation import invalid


@dataclass(frozen=True)
class AbsoluteErrorStep:
    """The map step of the last pass: ``sum w |y - b0 - x.b|`` of a part (the chosen model's mae)."""

    intercept: float
    coef: FloatArray

    def __call__(self, part: Part, block: Block) -> float:
        residual = block.y - self.intercept - block.X @ self.coef
        return float(block.weights() @ np.abs(residual))


def _keep(moments: FoldMoments, held: int | None) -> IntArray:
    return np.array([f for f in range(moments.n_folds) if f != held], dtype=np.int64)


def _solve(
    spec: FitSpec,
    moments: FoldMoments,
    held: int | None,
    l1_ratio: float,
    alphas: FloatArray | None,
    options: ColumnOptions,
    progress: Progress,
) -> FittedPath:
    """The path on all folds but ``held`` (None: the full data) over ``alphas`` (None: its grid)."""
    keep = _keep(moments, held)
    gram = moments.gram(keep)
    lo, hi, y_lo, y_hi = moments.ranges(keep)
    st = moment_standardization(gram, lo, hi, spec.standardize, spec.fit_intercept)
    lower, upper = st.bounds(options.lower, options.upper)
    stage = "cv" if held is not None else "path" if spec.alpha is None else "refit"
    if alphas is None:
        if spec.alpha is not None:
            alphas = np.array([spec.alpha], dtype=np.float64)
        else:
            start = moment_alpha_max(
                gram, l1_ratio, spec.fit_intercept, options.factors, lower, upper,
                center=st.mean, scale=st.scale, constant_target=y_lo == y_hi,
            )  # fmt: skip
            if not np.isfinite(start):
                raise InvalidDataError("the largest useful alpha overflows; rescale the target")
            alphas = alpha_grid(spec.path, start, int(moments.count.sum()), gram.sx.shape[0])
    full = held is None
    solution = solve_moment_path(
        gram, l1_ratio, alphas, spec.fit_intercept, spec.solver_tol(), spec.max_iter,
        progress.solve(stage), center=st.mean, scale=st.scale, penalty_factors=options.factors,
        lower=lower, upper=upper, max_features=spec.max_features if full else None,
        column_features=options.features,
        saturation=full and spec.alpha is None and spec.path.alphas is None,
    )  # fmt: skip
    coef, intercept = st.to_original(solution.coef, solution.intercept)
    solved = alphas[: coef.shape[0]] if solution.alphas is None else solution.alphas
    if solved.shape[0] == 0:
        raise invalid("max_features", "is smaller than the number of features selected at the largest alpha")
    if full:
        progress.finish(stage)
    return FittedPath(solved, coef, solution.coef, intercept, solution, st)


def _ratios(gram: GramMoments, fitted: FittedPath, fit_intercept: bool) -> FloatArray:
    """Deviance ratios on the full data (``path.path_result``'s) from the moments."""
    center = gram.sy / gram.total if fit_intercept else 0.0
    null = residual_squares(gram, center, np.zeros(gram.sx.shape[0]))
    return np.array(
        [
            deviance_ratio(residual_squares(gram, float(b0[0]), b[:, 0]), null)
            for b0, b in zip(fitted.intercept, fitted.coef, strict=True)
        ],
        dtype=np.float64,
    )


def _curve(
    spec: FitSpec,
    moments: FoldMoments,
    l1_ratio: float,
    alphas: FloatArray,
    options: ColumnOptions,
    progress: Progress,
) -> CVCurve:
    """Each fold's path on the other folds' moments, scored on its own: a quadratic form."""
    n_folds = moments.n_folds
    scores = np.full((n_folds, alphas.shape[0]), np.nan)
    for k in range(n_folds):
        if not moments.gram(_keep(moments, k)).total > 0:
            raise invalid("cv.folds", f"the training rows of fold {k} all have weight zero")
        fitted = _solve(spec, moments, k, l1_ratio, alphas, options, progress)
        held = moments.gram(np.array([k]))
        for i, (b0, b) in enumerate(zip(fitted.intercept, fitted.coef, strict=True)):
            scores[k, i] = residual_squares(held, float(b0[0]), b[:, 0]) / held.total
        progress.finish("cv")
    return cv_curve(spec.cv_metric(), l1_ratio, alphas, scores, moments.total.copy())


def fit_gaussian(
    spec: FitSpec,
    parts: Sequence[Part],
    folds: IntArray | None,
    mapreduce: MapReduce,
    checkpoint: Checkpoint | None,
) -> FitOutcome:
    """The gaussian path (and CV with ``folds``) from one pass of per-fold moments."""
    n_folds = 1 if folds is None else int(folds.max()) + 1
    if checkpoint is not None:
        checkpoint(0.0, "moments")
    moments: FoldMoments = mapreduce(MomentStep(n_folds), parts)
    options = check_moments(spec, moments)
    ratios = spec.l1_ratios()
    progress = Progress(checkpoint, len(ratios) * (1 + (n_folds if folds is not None else 0)))
    full = moments.gram(_keep(moments, None))
    candidates = []
    for l1_ratio in ratios:
        fitted = _solve(spec, moments, None, l1_ratio, None, options, progress)
        curve = None if folds is None else _curve(spec, moments, l1_ratio, fitted.alphas, options, progress)
        candidates.append(Candidate(l1_ratio, fitted, _ratios(full, fitted, spec.fit_intercept), curve))

    def train_metrics(intercept: FloatArray, coef: FloatArray) -> dict[str, float]:
        sse = residual_squares(full, float(intercept[0]), coef[:, 0])
        null = residual_squares(full, full.sy / full.total, np.zeros(coef.shape[0]))
        if checkpoint is not None:
            checkpoint(1.0, "scoring")
        absolute: float = mapreduce(AbsoluteErrorStep(float(intercept[0]), coef[:, 0].copy()), parts)
        return {"r2": deviance_ratio(sse, null), "mse": sse / full.total, "mae": absolute / full.total}

    return assemble(spec, candidates, folds, train_metrics)
