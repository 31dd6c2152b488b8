"""The binomial tall fit: proximal Newton paths, one pass per outer step, CV folds in lockstep."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from service.errors import InvalidDataError
from service.modeling.cv import cv_curve
from service.modeling.engine import NULL_MODEL_TOL, PathControl, PathSolution, Penalty
from service.modeling.metrics import observation_errors, train_metrics
from service.modeling.path import FittedPath, alpha_grid
from service.modeling.progress import Progress
from service.modeling.results import CVCurve, FitOutcome
from service.modeling.specs import Checkpoint, CVMetric, Family, FitSpec, FloatArray, IntArray
from service.modeling.tall.blocks import Block, MapReduce, Part
from service.modeling.tall.checks import ColumnOptions, check_moments
from service.modeling.tall.moments import FoldMoments, MomentStep
from service.modeling.tall.newton import Model, NewtonState, NewtonStep, Reduced
from service.modeling.tall.outcome import Candidate, assemble
from service.modeling.tall.standardization import moment_standardization
from service.modeling.validation import invalid

# As solver.alpha_max: ridge's alpha_max is computed as if l1_ratio were at least 1e-3.
MIN_L1_RATIO_FOR_ALPHA_MAX = 1e-3
PROBABILITY_FLOOR = 1e-9
# Newton steps one alpha may take per training set before it is reported not converged (the
# in-memory stall guard's role: each step here costs a pass over the data).
MAX_STEPS_PER_ALPHA = 200

Passes = Callable[[list[NewtonState], list[Model]], list[Reduced]]


@dataclass(frozen=True, eq=False)
class ScoreSums:
    """Per fold k and alpha i: ``sum w err`` over fold k's rows under fold k's model at alpha i."""

    sums: FloatArray  # (K, m)

    def __add__(self, other: ScoreSums) -> ScoreSums:
        return ScoreSums(self.sums + other.sums)


@dataclass(frozen=True)
class ScoreStep:
    """The map step scoring every fold's path on its held-out rows (cv.glmnet's clipped errors)."""

    intercepts: FloatArray  # (K, m) raw scale
    coefs: FloatArray  # (K, m, p) raw scale
    metric: CVMetric

    def __call__(self, part: Part, block: Block) -> ScoreSums:
        assert part.folds is not None
        n_folds, n_alphas = int(self.intercepts.shape[0]), int(self.intercepts.shape[1])
        out = np.zeros((n_folds, n_alphas))
        w = block.weights()
        for k in range(n_folds):
            rows = np.flatnonzero(part.folds == k)
            eta = self.intercepts[k] + block.X[rows] @ self.coefs[k].T  # (rows, m)
            for i in range(n_alphas):
                errors = observation_errors(
                    self.metric, Family.BINOMIAL, block.y[rows], eta[:, i : i + 1], True
                )
                out[k, i] = float(w[rows] @ errors)
        return ScoreSums(out)


@dataclass(frozen=True, eq=False)
class Predictions:
    """Linear predictors, targets and weights of some parts, keyed by first row (``+`` merges)."""

    pieces: tuple[tuple[int, FloatArray, FloatArray, FloatArray], ...]

    def __add__(self, other: Predictions) -> Predictions:
        return Predictions(self.pieces + other.pieces)

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        ordered = sorted(self.pieces, key=lambda piece: piece[0])
        return tuple(np.concatenate([piece[j] for piece in ordered]) for j in (1, 2, 3))  # type: ignore[return-value]


@dataclass(frozen=True)
class PredictionStep:
    """The map step of the last pass: the chosen model's linear predictor on every row."""

    intercept: float
    coef: FloatArray

    def __call__(self, part: Part, block: Block) -> Predictions:
        eta = self.intercept + block.X @ self.coef
        return Predictions(((part.start, eta, block.y, block.weights()),))


def _state(
    spec: FitSpec, moments: FoldMoments, held: int, l1_ratio: float, options: ColumnOptions
) -> NewtonState:
    keep = np.array([f for f in range(moments.n_folds) if f != held], dtype=np.int64)
    gram = moments.gram(keep)
    lo, hi, _, _ = moments.ranges(keep)
    st = moment_standardization(gram, lo, hi, spec.standardize, spec.fit_intercept)
    lower, upper = st.bounds(options.lower, options.upper)
    penalty = Penalty.build(lo.shape[0], l1_ratio, options.factors, lower, upper)
    b0 = 0.0
    if spec.fit_intercept:
        # The intercept-only model's log-odds, floored as the in-memory null_intercepts.
        f = min(max(gram.sy / gram.total, PROBABILITY_FLOOR), 1.0 - PROBABILITY_FLOOR)
        b0 = float(np.log(f / (1.0 - f)))
    return NewtonState(held, st, penalty, gram.total, spec.fit_intercept, np.zeros(lo.shape[0]), b0)


def _solve(states: list[NewtonState], alpha: float, tol: float, max_iter: int, passes: Passes) -> list[float]:
    """Proximal Newton at ``alpha`` for every state at once, one pass per round of trials;
    returns each state's final KKT violation."""
    for s in states:
        s.epochs, s.stalled, s.trial = 0, False, None
    steps = 0
    while True:
        pending = []
        for s in states:
            if s.trial is None:
                kkt = s.kkt(alpha)
                if kkt <= tol or s.stalled or s.epochs >= max_iter or steps >= MAX_STEPS_PER_ALPHA:
                    continue
                s.propose(alpha, kkt)
            pending.append(s)
        if not pending:
            return [s.kkt(alpha) for s in states]
        steps += 1
        for s, reduced in zip(pending, passes(pending, [s.model(s.trial) for s in pending]), strict=True):
            s.settle(alpha, reduced)


def _null_fit(states: list[NewtonState], passes: Passes) -> None:
    """Fit intercept and unpenalized columns alone first (penalized ones pinned), as in memory."""
    todo = [s for s in states if np.any(s.penalty.unpenalized)]
    full = [s.penalty for s in todo]
    for s in todo:
        s.penalty = s.penalty.null()
    _solve(todo, 1.0, NULL_MODEL_TOL, 100_000, passes)
    for s, penalty in zip(todo, full, strict=True):
        s.penalty = penalty


def _alpha_max(state: NewtonState, l1_ratio: float) -> float:
    assert state.now is not None
    penalty = state.penalty
    penalized = (penalty.factors > 0.0) & penalty.free
    if not np.any(penalized):
        return 0.0
    push = penalty.allowed_push(state.now.q)
    ratio = push[penalized] / penalty.factors[penalized]
    return float(np.max(ratio)) / max(l1_ratio, MIN_L1_RATIO_FOR_ALPHA_MAX)


@dataclass
class _Record:
    """One state's solutions along the path."""

    coef: list[FloatArray]
    intercept: list[float]
    n_iter: list[int]
    kkt: list[float]

    def add(self, state: NewtonState, kkt: float) -> None:
        self.coef.append(state.beta.copy())
        self.intercept.append(state.b0)
        self.n_iter.append(state.epochs)
        self.kkt.append(kkt)

    def fitted(self, alphas: FloatArray, state: NewtonState, tol: float) -> FittedPath:
        coef_std = np.asarray(self.coef, dtype=np.float64).reshape(len(self.coef), -1, 1)
        intercept_std = np.asarray(self.intercept, dtype=np.float64).reshape(-1, 1)
        kkt = np.asarray(self.kkt, dtype=np.float64)
        solution = PathSolution(
            coef_std, intercept_std, np.asarray(self.n_iter, dtype=np.int64), kkt, kkt <= tol
        )
        coef, intercept = state.st.to_original(coef_std, intercept_std)
        return FittedPath(alphas[: coef.shape[0]], coef, coef_std, intercept, solution, state.st)


class _Binomial:
    """One binomial tall fit: the moments, the options, the passes and the progress."""

    def __init__(
        self,
        spec: FitSpec,
        parts: Sequence[Part],
        mapreduce: MapReduce,
        moments: FoldMoments,
        progress: Progress,
    ) -> None:
        self.spec, self.parts, self.mapreduce, self.moments = spec, parts, mapreduce, moments
        self.options = check_moments(spec, moments)
        self.progress = progress
        self.passes = 0

    def run_pass(self, states: list[NewtonState], models: list[Model]) -> list[Reduced]:
        self.passes += 1
        sums = self.mapreduce(NewtonStep(tuple(models)), self.parts)
        return [Reduced.of(sums, m, s.st, s.total) for m, s in enumerate(states)]

    def start(self, held: list[int], l1_ratio: float) -> list[NewtonState]:
        states = [_state(self.spec, self.moments, k, l1_ratio, self.options) for k in held]
        for s, reduced in zip(states, self.run_pass(states, [s.model() for s in states]), strict=True):
            s.now = reduced
        _null_fit(states, self.run_pass)
        return states

    def full_path(self, l1_ratio: float) -> tuple[FittedPath, FloatArray]:
        spec = self.spec
        [state] = self.start([-1], l1_ratio)
        assert state.now is not None
        null_loss = state.now.loss
        if spec.alpha is not None:
            alphas, stage = np.array([spec.alpha], dtype=np.float64), "refit"
        else:
            n, p = int(self.moments.count.sum()), state.beta.shape[0]
            alphas, stage = alpha_grid(spec.path, _alpha_max(state, l1_ratio), n, p), "path"
        control = PathControl(None, None, spec.alpha is None and spec.path.alphas is None)
        record, ratios = _Record([], [], [], []), []
        report = self.progress.solve(stage)
        for i, alpha in enumerate(alphas):
            [kkt] = _solve([state], float(alpha), spec.solver_tol(), spec.max_iter, self.run_pass)
            record.add(state, kkt)
            assert state.now is not None
            ratios.append(1.0 - state.now.loss / null_loss if null_loss > 0 else 0.0)
            if report is not None:
                report((i + 1) / alphas.shape[0])
            if control.saturated(ratios):
                break
        self.progress.finish(stage)
        # The deviance ratio of path_result: the same mean losses (null: the intercept-only fit).
        return record.fitted(alphas, state, spec.solver_tol()), np.asarray(ratios, dtype=np.float64)

    def curve(self, l1_ratio: float, alphas: FloatArray, folds: IntArray) -> CVCurve:
        spec, n_folds = self.spec, self.moments.n_folds
        for k in range(n_folds):
            keep = np.array([f for f in range(n_folds) if f != k])
            if not self.moments.total[keep].sum() > 0:
                raise invalid("cv.folds", f"the training rows of fold {k} all have weight zero")
        states = self.start(list(range(n_folds)), l1_ratio)
        records = [_Record([], [], [], []) for _ in states]
        report = self.progress.solve("cv")
        for i, alpha in enumerate(alphas):
            kkts = _solve(states, float(alpha), spec.solver_tol(), spec.max_iter, self.run_pass)
            for record, s, kkt in zip(records, states, kkts, strict=True):
                record.add(s, kkt)
            if report is not None:
                report((i + 1) / alphas.shape[0] / n_folds)
        paths = [r.fitted(alphas, s, spec.solver_tol()) for r, s in zip(records, states, strict=True)]
        step = ScoreStep(
            np.stack([fp.intercept[:, 0] for fp in paths]),
            np.stack([fp.coef[:, :, 0] for fp in paths]),
            spec.cv_metric(),
        )
        sums: ScoreSums = self.mapreduce(step, self.parts)
        for _ in range(n_folds):
            self.progress.finish("cv")
        held = self.moments.total
        return cv_curve(spec.cv_metric(), l1_ratio, alphas, sums.sums / held[:, np.newaxis], held.copy())


def _check_classes(moments: FoldMoments) -> None:
    positive = float(moments.sy.sum())
    if not (positive > 0.0 and positive < float(moments.total.sum())):
        raise InvalidDataError("Every class of the target needs at least one row with positive weight.")


def fit_binomial(
    spec: FitSpec,
    parts: Sequence[Part],
    folds: IntArray | None,
    mapreduce: MapReduce,
    checkpoint: Checkpoint | None,
) -> FitOutcome:
    """The binomial path (and CV with ``folds``) by proximal Newton over the parts; y is 0/1."""
    if spec.max_features is not None:
        raise invalid("max_features", "is not available for binomial fits on a partitioned dataset")
    n_folds = 1 if folds is None else int(folds.max()) + 1
    if checkpoint is not None:
        checkpoint(0.0, "moments")
    moments: FoldMoments = mapreduce(MomentStep(n_folds, binary=True), parts)
    _check_classes(moments)
    ratios = spec.l1_ratios()
    progress = Progress(checkpoint, len(ratios) * (1 + (n_folds if folds is not None else 0)))
    fit = _Binomial(spec, parts, mapreduce, moments, progress)
    candidates = []
    for l1_ratio in ratios:
        fitted, deviance_ratios = fit.full_path(l1_ratio)
        curve = None if folds is None else fit.curve(l1_ratio, fitted.alphas, folds)
        candidates.append(Candidate(l1_ratio, fitted, deviance_ratios, curve))

    def metrics(intercept: FloatArray, coef: FloatArray) -> dict[str, float]:
        if checkpoint is not None:
            checkpoint(1.0, "scoring")
        predictions: Predictions = mapreduce(PredictionStep(float(intercept[0]), coef[:, 0].copy()), parts)
        eta, y, w = predictions.arrays()
        return train_metrics(Family.BINOMIAL, y.astype(np.int64), eta[:, np.newaxis], w)

    return assemble(spec, candidates, folds, metrics)
