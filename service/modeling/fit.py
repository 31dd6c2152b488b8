"""``fit_model``: the path, cross-validation and selection that turn a FitSpec into a FitOutcome."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import numpy.typing as npt

from service.errors import InvalidDataError
from service.modeling.cv import (
    Lead,
    cross_validate,
    cross_validate_alongside,
    cross_validate_relaxed,
    folds_in_processes,
)
from service.modeling.engine import PathSolution
from service.modeling.folds import make_folds
from service.modeling.link import linear_predictor
from service.modeling.metrics import train_metrics
from service.modeling.parallel import fanned_out, run_folds
from service.modeling.path import FittedPath, SolverInput, alpha_grid, path_result
from service.modeling.problem import Problem, build_problem
from service.modeling.progress import Progress
from service.modeling.results import Convergence, CVCurve, CVResult, FitOutcome, NonzeroArray, Selection
from service.modeling.scaling import check_representable, unscale_outcome
from service.modeling.selection import best_curve, chosen_index
from service.modeling.specs import Checkpoint, Family, FitSpec, FloatArray, IntArray, SelectionRule
from service.modeling.stats.adaptive import adapted_spec, adaptive_factors, check_adaptive, initial_spec
from service.modeling.stats.relaxed import RelaxedPath, choose, relaxed_path
from service.modeling.validation import check_fold_ids, check_spec, invalid


@dataclass(frozen=True)
class _Candidate:
    """One l1_ratio's full-data fit and, with CV, its curve; with relax, its refits and their curves."""

    l1_ratio: float
    fitted: FittedPath
    curve: CVCurve | None
    relaxed: RelaxedPath | None = None
    relaxed_curves: tuple[CVCurve, ...] = ()


def _fold_ids(problem: Problem, spec: FitSpec, fold_ids: npt.ArrayLike | None) -> IntArray | None:
    cv = spec.cv
    if cv is None:
        return None
    n = problem.X.shape[0]
    if fold_ids is not None:
        return check_fold_ids(fold_ids, n)
    stratify = cv.stratify if cv.stratify is not None else problem.family != Family.GAUSSIAN
    return make_folds(n, cv.n_folds, cv.seed, problem.y if stratify else None)


def _full_fit(problem: Problem, spec: FitSpec, l1_ratio: float, progress: Progress) -> FittedPath:
    prepared = SolverInput.build(problem)
    alphas, stage = _full_alphas(prepared, spec, l1_ratio)
    # glmnet's early stop when the deviance ratio saturates applies to generated grids only.
    saturation = spec.alpha is None and spec.path.alphas is None
    fitted = prepared.solve(l1_ratio, alphas, progress.solve(stage), saturation)
    if fitted.alphas.shape[0] == 0:
        raise invalid("max_features", "is smaller than the number of features selected at the largest alpha")
    progress.finish(stage)
    return fitted


def _full_alphas(prepared: SolverInput, spec: FitSpec, l1_ratio: float) -> tuple[FloatArray, str]:
    """The alphas the full-data fit solves (before any early stop), and its progress stage."""
    problem = prepared.problem
    if spec.alpha is not None:
        alphas, stage = np.array([spec.alpha], dtype=np.float64), "refit"
    else:
        n, p = problem.X.shape
        start = prepared.alpha_max(l1_ratio)
        if not np.isfinite(start):
            # Only data at the ends of the double range gets here (the target near 1e308, say):
            # every alpha of the grid would overflow the solver.
            raise InvalidDataError(
                "the largest useful alpha (the target's gradient over the smallest penalty factor) "
                "overflows; rescale the target or raise the smallest penalty factor"
            )
        alphas, stage = alpha_grid(spec.path, start, n, p), "path"
    return alphas, stage


def _known_beforehand(problem: Problem, spec: FitSpec) -> bool:
    """Whether the full-data fit solves exactly the alphas asked for: given ones (no saturation
    stop) and no feature budget to end or refine the path."""
    return (spec.alpha is not None or spec.path.alphas is not None) and problem.max_features is None


def _fitted_beside_folds(
    problem: Problem,
    spec: FitSpec,
    l1_ratio: float,
    folds: IntArray,
    field: str,
    progress: Progress,
    processes: int,
) -> _Candidate:
    """The full-data fit as one more task of the folds' pool, when its alphas are known before it
    runs (``_known_beforehand``): it no longer holds every fold back. Its coefficients come back as
    their nonzeros (a wide path is mostly zeros)."""
    prepared = SolverInput.build(problem)
    alphas, stage = _full_alphas(prepared, spec, l1_ratio)

    def full_fit() -> tuple[NonzeroArray, PathSolution]:
        solution = prepared.solution(l1_ratio, alphas, None)
        return NonzeroArray.of(solution.coef), replace(solution, coef=np.zeros((0, 0, 0)))

    lead = Lead(full_fit, stage)
    (coef, rest), curve = cross_validate_alongside(
        problem, l1_ratio, alphas, folds, spec.cv_metric(), progress, field, processes, lead
    )
    fitted = prepared.fitted(replace(rest, coef=coef.dense()), alphas)
    if not np.array_equal(fitted.alphas, alphas):  # not expected: then as cv.glmnet does
        curve = cross_validate(
            problem, l1_ratio, fitted.alphas, folds, spec.cv_metric(), progress, field, processes
        )
    return _Candidate(l1_ratio, fitted, curve)


def _candidate(
    problem: Problem,
    spec: FitSpec,
    l1_ratio: float,
    folds: IntArray | None,
    user_folds: bool,
    progress: Progress,
    processes: int,
) -> _Candidate:
    field = "cv.fold_column" if user_folds else "cv.folds"
    if (
        folds is not None
        and not spec.relax
        and _known_beforehand(problem, spec)
        and folds_in_processes(problem, processes)
    ):
        return _fitted_beside_folds(problem, spec, l1_ratio, folds, field, progress, processes)
    fitted = _full_fit(problem, spec, l1_ratio, progress)
    relaxed = relaxed_path(problem, fitted.coef, fitted.intercept) if spec.relax else None
    if folds is None:
        return _Candidate(l1_ratio, fitted, None, relaxed)
    metric = spec.cv_metric()
    if spec.relax:
        curves = cross_validate_relaxed(
            problem, l1_ratio, fitted.alphas, folds, metric, progress, field, processes
        )
        # The last gamma is 1, the lasso itself: its curve is the plain one, bit for bit.
        return _Candidate(l1_ratio, fitted, curves[-1], relaxed, curves)
    curve = cross_validate(problem, l1_ratio, fitted.alphas, folds, metric, progress, field, processes)
    return _Candidate(l1_ratio, fitted, curve)


def _candidates_fanned_out(
    problem: Problem,
    spec: FitSpec,
    ratios: tuple[float, ...],
    folds: IntArray | None,
    user_folds: bool,
    progress: Progress,
    n_folds: int,
) -> list[_Candidate]:
    """One l1_ratio per task of the installed fold runner: its path and its CV (folds in turn there).

    Each task reports nothing while it runs (its ``Progress`` has no checkpoint, so the task
    pickles); this process counts the work of each l1_ratio done as its task completes.
    """
    work = partial(_lone_candidate, problem, spec, ratios, folds, user_folds)
    found: dict[int, _Candidate] = {}
    for index, candidate in run_folds(work, len(ratios), 1):
        found[index] = candidate
        for _ in range(1 + n_folds):
            progress.finish("l1_ratios")
    return [found[index] for index in range(len(ratios))]


def _lone_candidate(
    problem: Problem,
    spec: FitSpec,
    ratios: tuple[float, ...],
    folds: IntArray | None,
    user_folds: bool,
    index: int,
) -> _Candidate:
    return _candidate(problem, spec, ratios[index], folds, user_folds, Progress(None, 1), 1)


def fit_model(
    X: npt.NDArray[np.float64],
    y: npt.ArrayLike,
    spec: FitSpec,
    *,
    sample_weight: npt.ArrayLike | None = None,
    fold_ids: npt.ArrayLike | None = None,
    n_classes: int | None = None,
    checkpoint: Checkpoint | None = None,
    cv_processes: int = 1,
) -> FitOutcome:
    """Fit ``spec`` to the design X (n, p) and target y; see the package docstring for the objective.

    ``y``: float64 for gaussian, int class codes 0..K-1 otherwise (K = ``n_classes`` or
    ``y.max() + 1``). ``fold_ids`` (0..K-1 per row) override ``cv.n_folds`` and ``cv.seed``.
    ``checkpoint`` is called after every block of ~10 alphas and after every fit, with stage
    ``"path"`` (full-data path), ``"refit"`` (full-data fit at a given alpha) or ``"cv"`` (folds);
    whatever it raises propagates. ``cv_processes`` > 1 runs the CV folds of a large design in
    that many forked processes (each fold then reports only its completion).

    ``spec.relax``: the relaxed lasso (``stats.relaxed``): ``coef``/``intercept`` are the blend at
    the chosen (alpha, gamma), ``relax_gamma`` its gamma, ``cv.relaxed`` the curves per gamma.
    ``spec.adaptive``: the adaptive lasso (``stats.adaptive``): an initial fit, then this fit with
    its factors; ``adaptive`` reports them. Progress runs 0-0.5 over the first, 0.5-1 the second.
    """
    check_spec(spec)
    adaptive = check_adaptive(spec)
    if adaptive is not None:

        def fit(part: FitSpec, start: float) -> FitOutcome:
            # Each half of the progress gets one of the two fits (about the same number of solves).
            report = None if checkpoint is None else _part(checkpoint, start)
            return fit_model(
                X, y, part, sample_weight=sample_weight, fold_ids=fold_ids, n_classes=n_classes,
                checkpoint=report, cv_processes=cv_processes,
            )  # fmt: skip

        result = adaptive_factors(spec, adaptive, fit(initial_spec(spec, adaptive), 0.0))
        return replace(fit(adapted_spec(spec, result), 0.5), adaptive=result)
    if spec.relax and len(spec.l1_ratios()) > 1:
        raise invalid("relax", "cannot be combined with a search over cv.l1_ratios")
    problem = build_problem(X, y, spec, sample_weight, n_classes)
    folds = _fold_ids(problem, spec, fold_ids)
    ratios = spec.l1_ratios()
    n_folds = 0 if folds is None else int(folds.max()) + 1
    progress = Progress(checkpoint, len(ratios) * (1 + n_folds))
    user_folds = fold_ids is not None
    if len(ratios) > 1 and fanned_out():
        candidates = _candidates_fanned_out(problem, spec, ratios, folds, user_folds, progress, n_folds)
    else:
        candidates = [_candidate(problem, spec, r, folds, user_folds, progress, cv_processes) for r in ratios]
    outcome = _outcome(problem, spec, candidates, folds)
    if problem.scaling is not None:
        outcome = unscale_outcome(outcome, problem.scaling, problem.family == Family.GAUSSIAN)
    check_representable(outcome, spec.column_names, spec.target_name)
    return outcome


def _part(checkpoint: Checkpoint, start: float) -> Checkpoint:
    def report(fraction: float, stage: str) -> None:
        checkpoint(start + 0.5 * fraction, stage)

    return report


def _choose(spec: FitSpec, candidates: list[_Candidate]) -> tuple[_Candidate, int, float | None]:
    """The candidate, the alpha index and, with relax, the gamma of the model."""
    curves = [c.curve for c in candidates if c.curve is not None]
    if not curves:
        # Without CV, relax reports the refit itself (gamma 0): the lasso is gamma 1.
        only = candidates[0]
        return only, only.fitted.alphas.shape[0] - 1, 0.0 if spec.relax else None
    best = candidates[best_curve(curves)]
    assert best.curve is not None and spec.cv is not None
    if spec.relax:
        index, gamma = choose(best.relaxed_curves, spec.cv.rule)
        return best, index, gamma
    return best, 0 if spec.alpha is not None else chosen_index(best.curve, spec.cv.rule), None


def _cv_parts(
    spec: FitSpec,
    candidates: list[_Candidate],
    chosen: _Candidate,
    index: int,
    gamma: float | None,
    folds: IntArray | None,
) -> tuple[CVResult | None, Selection | None, dict[str, float] | None]:
    curve = chosen.curve
    if spec.cv is None or curve is None or folds is None:
        return None, None, None
    curves = tuple(c.curve for c in candidates if c.curve is not None)
    result = CVResult(curves, folds, chosen.l1_ratio, spec.cv.rule, chosen.relaxed_curves)
    if gamma is not None:
        curve = next(c for c in chosen.relaxed_curves if c.relax_gamma == gamma)
    metrics = {str(curve.metric): float(curve.mean[index]), "se": float(curve.se[index])}
    if spec.alpha is not None:
        return result, None, metrics
    if not chosen.relaxed_curves:
        selection = Selection(spec.cv.rule, curve.alpha_min, curve.alpha_1se, chosen.l1_ratio)
        return result, selection, metrics
    alphas = chosen.fitted.alphas
    i_min, gamma_min = choose(chosen.relaxed_curves, SelectionRule.MIN)
    i_1se, gamma_1se = choose(chosen.relaxed_curves, SelectionRule.ONE_SE)
    selection = Selection(
        spec.cv.rule, float(alphas[i_min]), float(alphas[i_1se]), chosen.l1_ratio, gamma_min, gamma_1se
    )
    return result, selection, metrics


def _outcome(
    problem: Problem, spec: FitSpec, candidates: list[_Candidate], folds: IntArray | None
) -> FitOutcome:
    chosen, i, gamma = _choose(spec, candidates)
    path = path_result(problem, chosen.fitted, chosen.l1_ratio)
    cv, selection, cv_metrics = _cv_parts(spec, candidates, chosen, i, gamma, folds)
    intercept: FloatArray = path.intercept[i].copy()
    coef: FloatArray = path.coef[i].copy()
    coef_std: FloatArray = path.coef_std[i].copy()
    standardization = chosen.fitted.standardization
    converged = bool(path.converged[i])
    relaxed = chosen.relaxed
    if relaxed is not None and gamma is not None:
        coef_std = gamma * coef_std + (1 - gamma) * relaxed.coef[i] * standardization.scale[:, np.newaxis]
        coef = gamma * coef + (1 - gamma) * relaxed.coef[i]
        intercept = gamma * intercept + (1 - gamma) * relaxed.intercept[i]
        converged = converged and bool(relaxed.converged[i])
    eta = linear_predictor(problem.X, intercept, coef)
    return FitOutcome(
        family=problem.family,
        n_classes=problem.n_classes,
        alpha=float(path.alphas[i]),
        l1_ratio=chosen.l1_ratio,
        intercept=intercept,
        coef=coef,
        coef_std=coef_std,
        path=path,
        cv=cv,
        selection=selection,
        convergence=Convergence(converged, int(path.n_iter[i]), float(path.dual_gap[i])),
        train_metrics=train_metrics(problem.family, problem.y, eta, problem.w),
        cv_metrics=cv_metrics,
        x_mean=standardization.mean,
        x_scale=standardization.scale,
        relax_gamma=gamma,
    )
