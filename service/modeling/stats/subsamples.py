"""Seeded row resampling (complementary pairs, bootstrap) and per-feature selection from a path."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from service.modeling.specs import BoolArray, Family, FloatArray, IntArray
from service.modeling.stats.arguments import ArgumentError


def class_strata(family: Family, y: npt.ArrayLike, strata: npt.ArrayLike | None, n: int) -> list[IntArray]:
    """The row groups resampled separately: ``strata``'s levels, else the classes of a
    classification target (so every subsample keeps every class), else all rows as one group."""
    if strata is None and family == Family.GAUSSIAN:
        return [np.arange(n, dtype=np.int64)]
    labels = np.asarray(y if strata is None else strata)
    if labels.shape != (n,):
        raise ValueError(f"strata must have shape ({n},), got {labels.shape}")
    return [np.flatnonzero(labels == level).astype(np.int64) for level in np.unique(labels)]


def subsample_pairs(
    n: int, n_pairs: int, fraction: float, groups: list[IntArray], seed: int, field: str
) -> list[tuple[IntArray, IntArray]]:
    """``n_pairs`` pairs of disjoint row sets, each of ``floor(fraction * n_g)`` rows of every group.

    Drawn from one generator in a fixed order, so a seed gives the same pairs on every machine
    and however many processes then fit them. Rows come back sorted.
    """
    sizes = [math.floor(fraction * g.shape[0]) for g in groups]
    if sum(sizes) < 2:
        raise ArgumentError(field, f"leaves fewer than 2 of the {n} rows in a subsample")
    if len(groups) > 1 and min(sizes) == 0:
        raise ArgumentError(field, "leaves a class (or stratum) with no rows in a subsample")
    rng = np.random.default_rng(seed)
    pairs: list[tuple[IntArray, IntArray]] = []
    for _ in range(n_pairs):
        first, second = [], []
        for g, size in zip(groups, sizes, strict=True):
            order = rng.permutation(g)
            first.append(order[:size])
            second.append(order[size : 2 * size])
        pairs.append((np.sort(np.concatenate(first)), np.sort(np.concatenate(second))))
    return pairs


def bootstrap_counts(n: int, replicates: int, groups: list[IntArray], seed: int) -> list[FloatArray]:
    """Per replicate, how often each row is drawn: n_g draws with replacement within every group."""
    rng = np.random.default_rng(seed)
    out: list[FloatArray] = []
    for _ in range(replicates):
        counts = np.zeros(n, dtype=np.float64)
        for g in groups:
            np.add.at(counts, rng.choice(g, size=g.shape[0], replace=True), 1.0)
        out.append(counts)
    return out


def column_feature_map(column_features: tuple[int, ...] | None, p: int) -> tuple[sp.csr_matrix, int]:
    """The (p, p_features) 0/1 matrix of design column -> original feature, and p_features."""
    if column_features is None:
        return sp.identity(p, dtype=np.float64, format="csr"), p
    features = np.asarray(column_features, dtype=np.int64)
    if features.shape != (p,) or (p and features.min() < 0):
        raise ValueError(f"column_features must be {p} feature indices >= 0")
    p_features = int(features.max()) + 1 if p else 0
    matrix = sp.csr_matrix((np.ones(p), (np.arange(p), features)), shape=(p, p_features))
    return matrix, p_features


def selected_features(coef: FloatArray, features: sp.csr_matrix, p_features: int) -> BoolArray:
    """(m, p_features): at each alpha, whether any column of the feature is nonzero in any class."""
    columns = np.any(coef != 0.0, axis=2).astype(np.float64)  # (m, p)
    if features.shape[1] != p_features:
        raise ValueError("feature map and p_features disagree")
    chosen: BoolArray = np.asarray(features.T.dot(columns.T)).T > 0
    return chosen
