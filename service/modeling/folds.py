"""Deterministic assignment of rows to cross-validation folds, optionally stratified by class."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from service.modeling.specs import IntArray
from service.modeling.validation import invalid


def make_folds(n: int, n_folds: int, seed: int, strata: npt.ArrayLike | None = None) -> IntArray:
    """Fold ids 0..n_folds-1 for n rows, the same for the same arguments on every machine.

    Unstratified: a seeded permutation dealt round-robin, so fold sizes differ by at most one.
    Stratified: each class (in sorted order) is permuted and dealt round-robin, the dealer
    continuing where the previous class stopped. Fold sizes still differ by at most one, each
    class's count per fold differs by at most one, and a class with at least two rows appears in
    at least two folds, hence in every training part. No class-size warnings, unlike
    scikit-learn's StratifiedKFold.
    """
    if n_folds < 2:
        raise invalid("cv.folds", "needs at least 2 folds")
    if n_folds > n:
        raise invalid("cv.folds", f"{n_folds} folds need at least {n_folds} rows, the data has {n}")
    rng = np.random.default_rng(seed)
    if strata is None:
        order = rng.permutation(n)
    else:
        labels = np.asarray(strata)
        if labels.shape != (n,):
            raise ValueError(f"strata must have shape ({n},), got {labels.shape}")
        order = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)])
    folds = np.empty(n, dtype=np.int64)
    folds[order] = np.arange(n, dtype=np.int64) % n_folds
    return folds
