"""The solver boundary: alpha_max is the exact start of the path, and shapes are as documented."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from service.modeling.engine.solver import alpha_max, solve_path
from service.modeling.specs import Family

if TYPE_CHECKING:
    from tests.modeling.conftest import Data


@pytest.mark.parametrize(
    ("family", "fixture", "width"),
    [
        (Family.GAUSSIAN, "diabetes", 1),
        (Family.BINOMIAL, "breast_cancer", 1),
        (Family.MULTINOMIAL, "iris", 3),
    ],
)
def test_alpha_max_is_where_the_first_coefficient_enters(
    family: Family, fixture: str, width: int, request: pytest.FixtureRequest
) -> None:
    data: Data = request.getfixturevalue(fixture)
    Xs, w = data.X_std, np.ones(data.X.shape[0])
    n_classes = 1 if family == Family.GAUSSIAN else int(data.y.max()) + 1
    start = alpha_max(Xs, data.y, w, family, 0.5, True, n_classes)
    alphas = np.array([start * 1.0001, start * 0.98])
    solution = solve_path(Xs, data.y, w, family, 0.5, alphas, True, 1e-10, 100_000, n_classes=n_classes)
    assert solution.coef.shape == (2, Xs.shape[1], width) and solution.intercept.shape == (2, width)
    assert np.all(solution.coef[0] == 0.0)
    assert np.count_nonzero(solution.coef[1]) >= 1
    assert solution.n_iter.dtype == np.int64 and solution.converged.dtype == np.bool_


def test_solve_path_reports_progress_per_block(diabetes: Data) -> None:
    seen: list[float] = []
    alphas = np.geomspace(10.0, 0.01, 25)
    w = np.ones(diabetes.X.shape[0])
    solve_path(diabetes.X_std, diabetes.y, w, Family.GAUSSIAN, 1.0, alphas, True, 1e-7, 1000, seen.append)
    assert seen == [10 / 25, 20 / 25, 1.0]
