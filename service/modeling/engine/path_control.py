"""When a path stops early: glmnet's dfmax (a feature budget, refined to reach it) and its
deviance-ratio saturation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from service.modeling.engine.solution import PathProgress, PathRecorder, PathSolution, alpha_blocks
from service.modeling.specs import FloatArray, IntArray

# glmnet's defaults: stop once the model explains 99.9 % of the null deviance, or once a step
# along the path adds less than 1e-5 of it (relative), but never before the 5th alpha.
DEVIANCE_RATIO_MAX = 0.999
DEVIANCE_RATIO_MIN_STEP = 1e-5
MIN_ALPHAS_BEFORE_SATURATION = 5

# Refining towards exactly max_features features bisects until the bracket's alphas are within
# MIN_BRACKET (relative) when no k-feature model has been seen: closer than that, the two ends'
# solutions differ by less than any solver tolerance resolves, so a k-feature model there would be
# rounding, not a model (two features entering together). Once one has been seen, bisection goes
# on towards the alpha where the next feature enters, to within EDGE_BRACKET: the least shrunk
# k-feature model is the one worth offering to cross-validation (just below the previous alpha, the
# k-th coefficient is still nearly zero), and 1e-4 of alpha changes it by less than CV can tell.
MIN_BRACKET = 1e-10
EDGE_BRACKET = 1e-4
# Halving the log-width of a bracket between two positive doubles (at most ln(DBL_MAX / DBL_TRUE_MIN)
# ~ 1455) reaches MIN_BRACKET in at most 44 steps; the cap only guards that guarantee.
MAX_BISECTIONS = 50


@dataclass(frozen=True)
class PathControl:
    """``max_features``: stop before the first solution that selects more features.

    As glmnet's dfmax, every nonzero feature counts, unpenalized ones included. When the path
    jumps from fewer than ``max_features`` to more, the gap between the two alphas is bisected
    for a model with exactly that many (see ``walk_path``).

    ``column_features`` maps each solver column to its feature (one-hot levels share one);
    ``saturation`` turns on glmnet's deviance-ratio stop (for generated grids only: explicit alphas
    are all solved).
    """

    max_features: int | None = None
    column_features: IntArray | None = None
    saturation: bool = False

    def count(self, beta: FloatArray) -> int:
        return count_features(beta, self.column_features)

    def too_many(self, beta: FloatArray) -> bool:
        if self.max_features is None:
            return False
        return self.count(beta) > self.max_features

    def saturated(self, ratios: list[float]) -> bool:
        if not self.saturation or len(ratios) < MIN_ALPHAS_BEFORE_SATURATION:
            return False
        last, before = ratios[-1], ratios[-2]
        return last >= DEVIANCE_RATIO_MAX or (last - before) < DEVIANCE_RATIO_MIN_STEP * abs(last)


def count_features(beta: FloatArray, column_features: IntArray | None) -> int:
    """Selected features: a feature counts when any of its columns (or classes) is nonzero."""
    nonzero = beta != 0.0 if beta.ndim == 1 else np.any(beta != 0.0, axis=1)
    if column_features is None:
        return int(np.count_nonzero(nonzero))
    return int(np.unique(column_features[nonzero]).shape[0])


@dataclass(frozen=True)
class Step:
    """One alpha's solution as an engine reports it."""

    coef: FloatArray  # (p,) or (p, K')
    intercept: FloatArray  # (K',)
    n_iter: int
    gap: float
    converged: bool
    deviance_ratio: float


SolveOne = Callable[[float, float | None], Step]
"""``solve_one(alpha, previous)``: solve at ``alpha`` warm-started from the engine's current
solution, which is the one at ``previous`` (None: the null model). Engines may screen with the
strong rule only when ``alpha <= previous``; a larger alpha gets a KKT-checked working set."""


def refine_budget(
    k: int, within: float, beyond: float, control: PathControl, solve_one: SolveOne
) -> tuple[float, Step] | None:
    """The smallest alpha found between ``within`` (fewer than k features) and ``beyond`` (more; the
    engine's current solution) whose solution selects exactly k, by bisection on log alpha; None
    when the bracket closes without one (features entering together: no such model).

    Each solve warm-starts from the last one, always an end of the current bracket, and tells the
    engine that alpha so its screening stays valid (the strong rule going down, a KKT-grown working
    set going up). The solution at any alpha is the same whichever end it starts from, up to the
    solver's tolerance.
    """
    held, found = beyond, None
    for _ in range(MAX_BISECTIONS):
        width = math.log(within / beyond)
        if width <= MIN_BRACKET or (found is not None and width <= EDGE_BRACKET):
            break
        middle = within * math.sqrt(beyond / within)  # the geometric mean, without overflow
        step = solve_one(middle, held)
        held = middle
        selected = control.count(step.coef)
        if selected > k:
            beyond = middle
            continue
        within = middle
        if selected == k:
            # Engines may hand out views of their working arrays: keep a copy.
            found = (middle, replace(step, coef=step.coef.copy(), intercept=np.array(step.intercept)))
    return found


class _Walk:
    """The solutions recorded so far, with their alphas."""

    def __init__(self, recorder: PathRecorder) -> None:
        self.recorder = recorder
        self.alphas: list[float] = []

    def add(self, alpha: float, step: Step) -> None:
        self.recorder.add(
            step.coef, step.intercept, step.n_iter, step.gap, step.converged, step.deviance_ratio
        )
        self.alphas.append(alpha)

    def solution(self) -> PathSolution:
        return replace(self.recorder.solution(), alphas=np.asarray(self.alphas, dtype=np.float64))


def _over_budget(walk: _Walk, control: PathControl, alpha: float, solve_one: SolveOne) -> PathSolution:
    """The path ends at ``alpha``, the first over the budget; first bisect for exactly k features
    when the last recorded solution holds fewer."""
    k = control.max_features
    if k is not None and walk.alphas and control.count(walk.recorder.coefs[-1]) < k:
        found = refine_budget(k, walk.alphas[-1], alpha, control, solve_one)
        if found is not None:
            walk.add(*found)
    return walk.solution()


def walk_path(
    alphas: FloatArray,
    progress: PathProgress | None,
    control: PathControl,
    recorder: PathRecorder,
    solve_one: SolveOne,
) -> PathSolution:
    """Solve ``alphas`` in order with ``solve_one(alpha, previous alpha or None)``, recording each
    solution until ``control`` stops the path.

    A solution over the feature budget k is dropped and ends the path (glmnet's dfmax); when the
    solution before it selects fewer than k, a bisected alpha between the two whose solution
    selects exactly k is appended, if one exists. The solution's ``alphas`` say which were solved.
    """
    walk = _Walk(recorder)
    previous: float | None = None
    for block in alpha_blocks(alphas.shape[0], progress):
        for alpha in alphas[block]:
            step = solve_one(float(alpha), previous)
            if control.too_many(step.coef):
                return _over_budget(walk, control, float(alpha), solve_one)
            walk.add(float(alpha), step)
            previous = float(alpha)
            if control.saturated(recorder.deviance_ratios):
                return walk.solution()
    return walk.solution()
