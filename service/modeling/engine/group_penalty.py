"""The group penalty: per-group strengths, its value and its KKT conditions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.modeling.specs import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class GroupPenalty:
    """``alpha * sum_g pf_g sqrt(|g|) (l1_ratio ||b_g||_2 + (1 - l1_ratio)/2 ||b_g||_2^2)``.

    ``column_group`` (p,) is each solver column's group, -1 for a column held at zero (inactive:
    constant under the weights); ``members`` the movable columns of each group. ``|g|`` counts the
    group's columns as declared, held ones included, so a CV fold where a level is constant keeps
    the group's penalty. ``weights`` are ``pf_g sqrt(|g|)``; a zero weight leaves a group unpenalized.
    """

    l1_ratio: float
    column_group: IntArray
    members: tuple[IntArray, ...]
    weights: FloatArray

    @classmethod
    def build(cls, groups: IntArray, l1_ratio: float, factors: FloatArray, free: BoolArray) -> GroupPenalty:
        """From one group id per column (0..G-1) and per-column penalty factors, equal within a group."""
        groups = np.asarray(groups, dtype=np.int64)
        n_groups = int(groups.max()) + 1 if groups.size else 0
        sizes = np.bincount(groups, minlength=n_groups)
        first = np.zeros(n_groups)
        first[groups[::-1]] = factors[::-1]  # each group's factor (that of its first column)
        if np.any(factors != first[groups]):
            raise ValueError("group lasso needs equal penalty factors within each group")
        column_group = np.where(free, groups, -1).astype(np.int64)
        order = np.argsort(column_group, kind="stable")
        bounds = np.searchsorted(column_group[order], np.arange(n_groups + 1))
        members = tuple(order[bounds[g] : bounds[g + 1]].astype(np.int64) for g in range(n_groups))
        weights = first * np.sqrt(sizes.astype(np.float64))
        return cls(float(l1_ratio), column_group, members, weights)

    def null(self) -> GroupPenalty:
        """The null model's penalty: unpenalized groups free, penalized ones held at zero."""
        penalized = self.weights > 0.0
        cg = self.column_group
        held = (cg >= 0) & penalized[np.maximum(cg, 0)]
        members = tuple(np.zeros(0, np.int64) if penalized[g] else m for g, m in enumerate(self.members))
        return GroupPenalty(self.l1_ratio, np.where(held, -1, cg), members, self.weights)

    @property
    def n_groups(self) -> int:
        return len(self.members)

    @property
    def movable(self) -> BoolArray:
        """Groups with at least one column free to move."""
        mask: BoolArray = np.array([m.size > 0 for m in self.members], dtype=np.bool_)
        return mask

    @property
    def unpenalized(self) -> BoolArray:
        """Movable groups with weight 0: in every model, screened never."""
        mask: BoolArray = (self.weights == 0.0) & self.movable
        return mask

    def strengths(self, alpha: float) -> tuple[FloatArray, FloatArray]:
        """Per-group strengths of the norm and of half the squared norm at ``alpha``."""
        lam1: FloatArray = alpha * self.l1_ratio * self.weights
        lam2: FloatArray = alpha * (1.0 - self.l1_ratio) * self.weights
        return lam1, lam2

    def norms(self, values: FloatArray) -> FloatArray:
        """Per group, the Euclidean norm of ``values`` (p,) over its movable columns."""
        held = self.column_group >= 0
        squares = np.bincount(self.column_group[held], weights=values[held] ** 2, minlength=self.n_groups)
        norms: FloatArray = np.sqrt(squares)
        return norms

    def value(self, alpha: float, beta: FloatArray) -> float:
        lam1, lam2 = self.strengths(alpha)
        norms = self.norms(beta)
        return float(lam1 @ norms + 0.5 * lam2 @ norms**2)

    def kkt_violation(self, alpha: float, beta: FloatArray, q: FloatArray, slack: float = 0.0) -> FloatArray:
        """Per group, how far ``beta`` is from optimal given ``q`` = minus the loss gradient (p,).

        A zero group: ``max(||q_g|| - lam1_g (1 + slack), 0)``; a nonzero one: the norm of the
        stationarity residual ``-q_g + lam2_g b_g + lam1_g b_g / ||b_g||``. ``slack`` is the
        relative excess the screening leaves at zero (rounding at alpha_max, see ``screened_out``).
        """
        lam1, lam2 = self.strengths(alpha)
        bn = self.norms(beta)
        held = self.column_group < 0
        g = np.where(held, 0, self.column_group)
        unit = np.divide(beta, bn[g], out=np.zeros_like(beta), where=bn[g] > 0.0)
        residual = np.where(held, 0.0, -q + lam2[g] * beta + lam1[g] * unit)
        excess = np.maximum(self.norms(q) - lam1 * (1.0 + slack), 0.0)
        violation: FloatArray = np.where(bn > 0.0, self.norms(residual), excess)
        return violation

    def screened_out(self, q: FloatArray, alpha: float, slack: float) -> BoolArray:
        """Zero groups that violate KKT: ``||q_g|| > lam1_g (1 + slack)``."""
        lam1, _ = self.strengths(alpha)
        found: BoolArray = (self.norms(q) > lam1 * (1.0 + slack)) & self.movable
        return found
