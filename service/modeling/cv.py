"""Cross-validation as cv.glmnet does it: refit the full-data alphas per fold, score held-out rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from service.modeling.engine import GRAM_MAX_COLUMNS, GRAM_MIN_ALPHAS, PathProgress, RawMoments, is_sparse
from service.modeling.link import path_predictors
from service.modeling.metrics import fold_score
from service.modeling.parallel import fanned_out, run_folds
from service.modeling.path import FittedPath, SolverInput
from service.modeling.problem import Problem
from service.modeling.progress import Progress
from service.modeling.results import CVCurve
from service.modeling.selection import select_indices
from service.modeling.specs import CVMetric, Family, FloatArray, IntArray
from service.modeling.stats.relaxed import RELAX_GAMMAS, relaxed_fold_scores
from service.modeling.validation import invalid

# How a fold is scored: (training problem, held-out rows, the fold's path) -> its scores,
# (m,) for the plain path or (G, m) for the relaxed lasso's G blends.
FoldScorer = Callable[[Problem, IntArray, FittedPath], FloatArray]

# Below this many design entries a fold takes milliseconds: forking would cost more than it saves.
PARALLEL_MIN_CELLS = 1_000_000


@dataclass(frozen=True)
class Lead:
    """A task run beside the folds (the full-data fit), and the progress stage it finishes."""

    run: Callable[[], Any]
    stage: str


def summarize(scores: FloatArray, fold_weight: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and standard error over folds, each fold weighted by its total observation weight.

    ``mean = sum_k W_k e_k / sum_k W_k`` and ``se = sqrt(sum_k W_k (e_k - mean)^2 / sum_k W_k / (K - 1))``
    over the K folds where the error is defined (cv.glmnet's ``cvcompute``).
    """
    defined = np.isfinite(scores)
    weight = np.where(defined, fold_weight[:, np.newaxis], 0.0)
    values = np.where(defined, scores, 0.0)
    total = weight.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (weight * values).sum(axis=0) / total
        spread = (weight * (values - mean) ** 2).sum(axis=0) / total
        se = np.sqrt(spread / (defined.sum(axis=0) - 1))
    return mean.astype(np.float64), se.astype(np.float64)


def _score_fold(
    problem: Problem, test: IntArray, coef: FloatArray, intercept: FloatArray, metric: CVMetric, n_alphas: int
) -> FloatArray:
    X, y, w = problem.X[test], problem.y[test], problem.w[test]
    scores = np.full(n_alphas, np.nan)
    # Folds solve every alpha (no feature budget, no saturation stop); an alpha a fold had not
    # solved would count as undefined rather than shift the curve.
    for i, eta in enumerate(path_predictors(X, intercept, coef)):
        scores[i] = fold_score(metric, problem.family, y, eta, w)
    return scores


def _raw_moments(problem: Problem, n_alphas: int) -> RawMoments | None:
    """The full data's Gram moments when the folds will run in covariance mode, else None."""
    n, p = problem.X.shape
    dense_tall = not is_sparse(problem.X) and p <= GRAM_MAX_COLUMNS and n >= 2 * p
    if problem.family != Family.GAUSSIAN or not dense_tall or n_alphas < GRAM_MIN_ALPHAS:
        return None
    return RawMoments.of(problem.X, problem.w)


def folds_in_processes(problem: Problem, processes: int) -> bool:
    """Whether the folds run in this process's forked pool (not one by one, not on a runner)."""
    n, p = problem.X.shape
    return not fanned_out() and processes > 1 and n * p >= PARALLEL_MIN_CELLS


def cross_validate(
    problem: Problem,
    l1_ratio: float,
    alphas: FloatArray,
    fold_ids: IntArray,
    metric: CVMetric,
    progress: Progress,
    folds_field: str = "cv.folds",
    processes: int = 1,
) -> CVCurve:
    """Each fold standardizes and fits on its training rows and is scored on its held-out rows.

    Held-out rows get weight zero, so every fold shares a dense X; a sparse X is cut to the
    training rows (cheaper epochs, and a copy of a few MB). Every fold solves all of ``alphas``,
    the full-data path's (with ``max_features``, its bisected alpha too): the feature budget
    already chose those alphas on the full data, and a fold stopping at its own budget would leave
    the curve undefined where the full path still has models. With ``processes`` > 1 and a design
    of at least PARALLEL_MIN_CELLS entries, folds run in forked processes; in covariance mode each
    fold's Gram matrix is the full one minus its held-out rows'.
    """
    args = (problem, l1_ratio, alphas, fold_ids, metric, progress, folds_field, processes)
    return cross_validate_alongside(*args, None)[1]


def cross_validate_relaxed(
    problem: Problem,
    l1_ratio: float,
    alphas: FloatArray,
    fold_ids: IntArray,
    metric: CVMetric,
    progress: Progress,
    folds_field: str = "cv.folds",
    processes: int = 1,
) -> tuple[CVCurve, ...]:
    """``cross_validate`` for the relaxed lasso: one curve per gamma of RELAX_GAMMAS, each fold
    refitting its relaxed path on its training rows (``stats.relaxed``)."""

    def score(train: Problem, test: IntArray, fitted: FittedPath) -> FloatArray:
        return relaxed_fold_scores(train, problem, test, fitted.coef, fitted.intercept, metric)

    scores, fold_weight, _ = _fold_scores(
        problem, l1_ratio, alphas, fold_ids, progress, folds_field, processes, score
    )
    return tuple(
        cv_curve(metric, l1_ratio, alphas, scores[:, g, :], fold_weight, gamma)
        for g, gamma in enumerate(RELAX_GAMMAS)
    )


def cross_validate_alongside(
    problem: Problem,
    l1_ratio: float,
    alphas: FloatArray,
    fold_ids: IntArray,
    metric: CVMetric,
    progress: Progress,
    folds_field: str,
    processes: int,
    lead: Lead | None,
) -> tuple[Any, CVCurve]:
    """``cross_validate`` with ``lead()`` (the full-data fit, whose alphas the caller knew
    beforehand) run in the same forked pool as the folds: K + 1 tasks on P processes take
    ceil((K + 1) / P) rounds instead of 1 + ceil(K / P). Returns ``lead()``'s result (None
    without a lead) and the curve; ``progress`` counts the lead as its stage."""

    def score(_: Problem, test: IntArray, fitted: FittedPath) -> FloatArray:
        return _score_fold(problem, test, fitted.coef, fitted.intercept, metric, alphas.shape[0])

    scores, fold_weight, led = _fold_scores(
        problem, l1_ratio, alphas, fold_ids, progress, folds_field, processes, score, lead
    )
    return led, cv_curve(metric, l1_ratio, alphas, scores, fold_weight)


def _fold_scores(
    problem: Problem,
    l1_ratio: float,
    alphas: FloatArray,
    fold_ids: IntArray,
    progress: Progress,
    folds_field: str,
    processes: int,
    score: FoldScorer,
    lead: Lead | None = None,
) -> tuple[FloatArray, FloatArray, Any]:
    """(n_folds, ...) scores of every fold, each fold's total observation weight, and what ``lead``
    returned (run first, in the folds' pool; None without one)."""
    n_folds = int(fold_ids.max()) + 1
    for k in range(n_folds):
        if not problem.w[fold_ids != k].sum() > 0:
            raise invalid(folds_field, f"the training rows of fold {k} all have weight zero")
    moments = _raw_moments(problem, alphas.shape[0])
    parallel = fanned_out() or folds_in_processes(problem, processes)
    if lead is not None and not folds_in_processes(problem, processes):
        raise ValueError("a lead task runs only beside folds in forked processes")

    # ``fold`` captures no progress object: in parallel it may be pickled to another process.
    def fold(k: int, callback: PathProgress | None = None) -> FloatArray:
        train, test, fold_moments = _training_part(problem, fold_ids, k, moments)
        fitted = SolverInput.build(train).solve(l1_ratio, alphas, callback, moments=fold_moments)
        return score(train, test, fitted)

    def fold_reporting(k: int) -> FloatArray:
        return fold(k, progress.solve("cv"))

    def fold_or_lead(i: int) -> Any:
        # The lead is task 0: the longest task starts first.
        return fold(i) if lead is None else (lead.run() if i == 0 else fold(i - 1))

    results: list[FloatArray | None] = [None] * n_folds
    fold_weight = np.array([problem.w[fold_ids == k].sum() for k in range(n_folds)], dtype=np.float64)
    task = fold_or_lead if parallel else fold_reporting
    shift, led = (0 if lead is None else 1), None
    for i, value in run_folds(task, n_folds + shift, processes if parallel else 1):
        if lead is not None and i == 0:
            led = value
            progress.finish(lead.stage)
            continue
        results[i - shift] = value
        progress.finish("cv")
    return np.stack([r for r in results if r is not None]).astype(np.float64), fold_weight, led


def _training_part(
    problem: Problem, fold_ids: IntArray, k: int, moments: RawMoments | None
) -> tuple[Problem, IntArray, RawMoments | None]:
    """Fold ``k``'s training problem (no feature budget), its held-out rows, and its Gram moments
    (from the full data's, when given)."""
    test = np.flatnonzero(fold_ids == k)
    if is_sparse(problem.X):
        train = problem.restricted(np.flatnonzero(fold_ids != k))
        return replace(train, max_features=None), test, None
    # A dense design is shared, not copied (n p doubles per fold process).
    w_train = np.where(fold_ids != k, problem.w, 0.0)
    train = replace(problem.with_weights(w_train), max_features=None)
    if moments is None:
        return train, test, None
    factor = float(train.w.sum()) / float(w_train.sum())
    return train, test, moments.without(problem.X, test, problem.w, factor)


def cv_curve(
    metric: CVMetric,
    l1_ratio: float,
    alphas: FloatArray,
    scores: FloatArray,
    fold_weight: FloatArray,
    relax_gamma: float | None = None,
) -> CVCurve:
    """cv.glmnet's curve from (n_folds, m) fold scores: weighted mean, its SE, alpha_min, alpha_1se."""
    mean, se = summarize(scores, fold_weight)
    index_min, index_1se = select_indices(metric, mean, se)
    return CVCurve(
        metric=metric,
        l1_ratio=l1_ratio,
        alphas=alphas,
        mean=mean,
        se=se,
        folds=scores,
        alpha_min=float(alphas[index_min]),
        alpha_1se=float(alphas[index_1se]),
        index_min=index_min,
        index_1se=index_1se,
        relax_gamma=relax_gamma,
    )
