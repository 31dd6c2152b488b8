"""Real data sets that ship with scikit-learn, loaded once per test session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris


@dataclass(frozen=True)
class Data:
    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64] | npt.NDArray[np.int64]

    @property
    def X_std(self) -> npt.NDArray[np.float64]:
        """Columns at mean 0 and population SD 1 (glmnet's standardization, unit weights)."""
        scaled: npt.NDArray[np.float64] = (self.X - self.X.mean(axis=0)) / self.X.std(axis=0)
        return scaled


@pytest.fixture(scope="session")
def diabetes() -> Data:
    X, y = load_diabetes(return_X_y=True)
    return Data(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64))


@pytest.fixture(scope="session")
def breast_cancer() -> Data:
    X, y = load_breast_cancer(return_X_y=True)
    return Data(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64))


@pytest.fixture(scope="session")
def iris() -> Data:
    X, y = load_iris(return_X_y=True)
    return Data(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64))
