"""Block coordinate descent on a weighted least-squares model with the group penalty."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.modeling.engine.columns import Columns
from service.modeling.engine.group_penalty import GroupPenalty
from service.modeling.engine.kernels.blocks import block_sweeps
from service.modeling.specs import FloatArray, IntArray

# Eigenvalues of a block's curvature below this fraction of its largest are rank deficiency (equal
# or collinear columns in one group): the block's gradient has no component there.
RANK_RTOL = 1e-12


@dataclass(frozen=True)
class Curvature:
    """One block's ``Z_g^T diag(h) Z_g = U diag(d) U^T``."""

    d: FloatArray
    U: FloatArray

    @classmethod
    def of_eigen(cls, d: FloatArray, U: FloatArray) -> Curvature:
        """From ``eigh``'s answer (ascending eigenvalues)."""
        top = float(d[-1]) if d.size else 0.0
        d = np.where(d > RANK_RTOL * top, d, 0.0)
        return cls(d=np.asarray(d, dtype=np.float64), U=np.asarray(U, dtype=np.float64))


@dataclass
class QuadState:
    """``1/2 sum_i h_i r_i^2`` with ``r = z - b0 - Z beta``: coefficients, intercept and residual.

    ``h`` are the row weights of the model: the observation weights (gaussian) or the Newton
    weights (binomial); ``r`` is kept current by every step.
    """

    beta: FloatArray
    b0: float
    r: FloatArray
    h: FloatArray
    fit_intercept: bool


@dataclass(frozen=True)
class Blocks:
    """A working set's blocks side by side, as the compiled sweeps read them (kernels.blocks)."""

    Z: FloatArray  # (n, m) Fortran: the groups' movable columns, standardized
    offs: IntArray  # (G_ws + 1,)
    cols: IntArray  # (m,) solver column of each packed column


@dataclass(frozen=True)
class Curvatures:
    """Each block's eigenvectors (row-major, one after the other, block i at ``uoffs[i]``) and
    eigenvalues ``d`` (m,), under the current row weights."""

    U: FloatArray
    uoffs: IntArray
    d: FloatArray


class BlockModel:
    """The working set's blocks ``Z_g`` and their curvature under the current row weights.

    Both are kept while the working set stays the same (the blocks also across Newton steps, whose
    new row weights make only the curvature stale); a group's curvature is kept until then too.
    """

    def __init__(self, cols: Columns, penalty: GroupPenalty) -> None:
        self.cols, self.penalty = cols, penalty
        self.curvature: dict[int, Curvature] = {}
        self.blocks: tuple[bytes, Blocks] | None = None
        self.curvatures: tuple[bytes, Curvatures] | None = None

    def new_weights(self) -> None:
        """The row weights changed (a Newton step): every block's curvature is stale."""
        self.curvature.clear()
        self.curvatures = None

    def blocks_of(self, ws: IntArray) -> Blocks:
        key = ws.tobytes()
        if self.blocks is not None and self.blocks[0] == key:
            return self.blocks[1]
        members = [self.penalty.members[g] for g in ws.tolist()]
        sizes = np.array([m.size for m in members], dtype=np.int64)
        cols = np.concatenate(members).astype(np.int64) if members else np.zeros(0, np.int64)
        raw = self.cols.X[:, cols]
        dense = raw.toarray() if self.cols.sparse else np.asarray(raw)
        Z = np.asfortranarray((dense - self.cols.center[cols]) / self.cols.scale[cols])
        offs = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        found = Blocks(Z, offs, cols)
        self.blocks = (key, found)
        return found

    def curvatures_of(self, ws: IntArray, blocks: Blocks, h: FloatArray) -> Curvatures:
        key = ws.tobytes()
        if self.curvatures is not None and self.curvatures[0] == key:
            return self.curvatures[1]
        self._fill_curvature(ws, blocks, h)
        parts = [self.curvature[g] for g in ws.tolist()]
        U = np.concatenate([c.U.ravel() for c in parts]) if parts else np.zeros(0)
        uoffs = np.concatenate([[0], np.cumsum(np.diff(blocks.offs) ** 2)[:-1]]).astype(np.int64)
        d = np.concatenate([c.d for c in parts]) if parts else np.zeros(0)
        found = Curvatures(np.ascontiguousarray(U), uoffs, d)
        self.curvatures = (key, found)
        return found

    def _fill_curvature(self, ws: IntArray, blocks: Blocks, h: FloatArray) -> None:
        """Compute the missing groups' curvature, batched by block size: one stacked eigh per size
        rather than one small call per group (a Newton step recomputes them all)."""
        offs = blocks.offs
        missing = [(i, g) for i, g in enumerate(ws.tolist()) if g not in self.curvature]
        by_size: dict[int, list[tuple[int, int]]] = {}
        for i, g in missing:
            by_size.setdefault(int(offs[i + 1] - offs[i]), []).append((i, g))
        for k, items in by_size.items():
            starts = np.array([offs[i] for i, _ in items], dtype=np.int64)
            Zs = blocks.Z[:, starts[:, np.newaxis] + np.arange(k)]  # (n, B, k)
            weighted = h[:, np.newaxis, np.newaxis] * Zs
            hessians = np.einsum("nbi,nbj->bij", Zs, weighted)
            d, U = np.linalg.eigh(hessians)
            for b, (_, g) in enumerate(items):
                self.curvature[g] = Curvature.of_eigen(d[b], U[b])

    def solve(
        self,
        state: QuadState,
        ws: IntArray,
        lam: tuple[FloatArray, FloatArray],
        target: float,
        budget: int,
    ) -> int:
        """Sweeps over ``ws`` until its KKT residual is at most ``target`` (or ``budget`` sweeps);
        returns the sweeps run."""
        if budget <= 0:
            return 0
        bl = self.blocks_of(ws)
        cu = self.curvatures_of(ws, bl, state.h)
        lam1, lam2 = lam[0][ws], lam[1][ws]
        b0 = np.array([state.b0])
        epochs = block_sweeps(
            bl.Z, bl.offs, bl.cols, cu.U, cu.uoffs, cu.d, lam1, lam2, state.h, state.r, state.beta, b0,
            state.fit_intercept, target, budget,
        )  # fmt: skip
        state.b0 = float(b0[0])
        return int(epochs)
