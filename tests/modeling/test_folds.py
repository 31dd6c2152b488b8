"""Fold assignment: balanced, stratified, deterministic, and refused when impossible."""

from __future__ import annotations

import numpy as np
import pytest

from service.errors import ValidationError
from service.modeling import make_folds


def test_make_folds_balances_fold_sizes() -> None:
    folds = make_folds(103, 10, seed=0, strata=None)
    counts = np.bincount(folds)
    assert counts.shape == (10,) and counts.max() - counts.min() <= 1 and counts.sum() == 103


def test_make_folds_stratifies_every_class() -> None:
    strata = np.repeat([0, 1, 2], [50, 7, 3])
    folds = make_folds(60, 5, seed=4, strata=strata)
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 1
    for c in range(3):
        per_fold = np.bincount(folds[strata == c], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1
    # The three rows of class 2 land in three different folds, so every training part keeps the class.
    assert len(set(folds[strata == 2])) == 3


def test_make_folds_is_deterministic_and_seeded() -> None:
    strata = np.arange(40) % 3
    first = make_folds(40, 4, seed=7, strata=strata)
    assert np.array_equal(first, make_folds(40, 4, seed=7, strata=strata))
    assert not np.array_equal(first, make_folds(40, 4, seed=8, strata=strata))
    assert first.dtype == np.int64


@pytest.mark.parametrize(("n", "n_folds"), [(10, 1), (10, 11), (3, 0)])
def test_make_folds_refuses_impossible_fold_counts(n: int, n_folds: int) -> None:
    with pytest.raises(ValidationError) as raised:
        make_folds(n, n_folds, seed=0, strata=None)
    assert raised.value.detail.startswith("cv.folds")
    assert raised.value.extensions["errors"][0]["loc"] == ["body", "cv", "folds"]
