"""What every solver engine returns for a path, and the cadence at which engines report progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from service.modeling.specs import BoolArray, FloatArray, IntArray

PathProgress = Callable[[float], None]
"""Called with the fraction of this path's alphas solved; may raise to cancel."""

# Progress is reported after every block of this many alphas: often enough for a responsive
# cancel, rare enough that the callback (a pipe write in the worker) costs nothing.
BLOCK_SIZE = 10


@dataclass(frozen=True)
class PathSolution:
    """The solver's answer on the design it was given (standardized if requested).

    ``coef`` (m, p, K'), ``intercept`` (m, K'), and per alpha ``n_iter``, ``dual_gap`` (duality gap
    for gaussian, max KKT violation for logistic) and ``converged``. ``alphas`` (m,) are the alphas
    solved, in order: a prefix of those asked for, plus one bisected alpha when ``max_features``
    refined the path's end; None means the first m asked for.
    """

    coef: FloatArray
    intercept: FloatArray
    n_iter: IntArray
    dual_gap: FloatArray
    converged: BoolArray
    alphas: FloatArray | None = None


def alpha_blocks(n_alphas: int, progress: PathProgress | None) -> Iterator[slice]:
    """Slices of consecutive alphas; progress is reported after the caller has solved each one."""
    for start in range(0, n_alphas, BLOCK_SIZE):
        stop = min(start + BLOCK_SIZE, n_alphas)
        yield slice(start, stop)
        if progress is not None:
            progress(stop / n_alphas)


def stack_solution(
    coefs: list[FloatArray],
    intercepts: list[FloatArray],
    n_iters: list[int],
    gaps: list[float],
    converged: list[bool],
) -> PathSolution:
    """A PathSolution from per-alpha pieces: coef (p, K'), intercept (K',)."""
    return PathSolution(
        coef=np.asarray(np.stack(coefs), dtype=np.float64),
        intercept=np.asarray(np.stack(intercepts), dtype=np.float64),
        n_iter=np.asarray(n_iters, dtype=np.int64),
        dual_gap=np.asarray(gaps, dtype=np.float64),
        converged=np.asarray(converged, dtype=np.bool_),
    )


@dataclass
class PathRecorder:
    """Collects an engine's per-alpha results; ``solution`` stacks them (none when stopped at once)."""

    p: int
    width: int
    coefs: list[FloatArray] = field(default_factory=list)
    intercepts: list[FloatArray] = field(default_factory=list)
    n_iters: list[int] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    converged: list[bool] = field(default_factory=list)
    deviance_ratios: list[float] = field(default_factory=list)

    def add(
        self, coef: FloatArray, intercept: FloatArray, n_iter: int, gap: float, ok: bool, ratio: float
    ) -> None:
        """coef (p, K') and intercept (K',), copied."""
        self.coefs.append(coef.reshape(self.p, self.width).copy())
        self.intercepts.append(np.asarray(intercept, dtype=np.float64).reshape(self.width).copy())
        self.n_iters.append(n_iter)
        self.gaps.append(gap)
        self.converged.append(ok)
        self.deviance_ratios.append(ratio)

    def solution(self) -> PathSolution:
        if not self.coefs:
            return PathSolution(
                coef=np.zeros((0, self.p, self.width)),
                intercept=np.zeros((0, self.width)),
                n_iter=np.zeros(0, dtype=np.int64),
                dual_gap=np.zeros(0),
                converged=np.zeros(0, dtype=np.bool_),
            )
        return stack_solution(self.coefs, self.intercepts, self.n_iters, self.gaps, self.converged)
