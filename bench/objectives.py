"""The benchmark's own objective functions, evaluated on whatever coefficients a library returns."""

from __future__ import annotations

import numpy as np

from bench.problems import Design, FloatArray, Problem


def linear_predictor(X: Design, coef: FloatArray, intercept: FloatArray) -> FloatArray:
    """(n, m) predictions for m coefficient rows coef (m, p) and intercepts (m,)."""
    return np.asarray(X @ coef.T) + intercept[np.newaxis, :]


def penalty(coef: FloatArray, alphas: FloatArray, l1_ratio: float) -> FloatArray:
    """alpha * (l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 * ||w||^2) per row."""
    l1 = np.abs(coef).sum(axis=1)
    l2 = np.square(coef).sum(axis=1)
    return alphas * (l1_ratio * l1 + 0.5 * (1.0 - l1_ratio) * l2)


def data_loss(family: str, y: FloatArray, eta: FloatArray) -> FloatArray:
    """Per column of eta: half the mean squared error, or the mean log-loss for 0/1 labels."""
    if family == "gaussian":
        return 0.5 * np.mean(np.square(y[:, np.newaxis] - eta), axis=0)
    return np.mean(np.logaddexp(0.0, eta) - y[:, np.newaxis] * eta, axis=0)


def objective(
    problem: Problem, coef: FloatArray, intercept: FloatArray, alphas: FloatArray, chunk: int = 16
) -> FloatArray:
    """The objective at each of the m alphas; coef (m, p), intercept (m,). Chunked to bound memory."""
    values = np.empty(alphas.shape[0])
    for start in range(0, alphas.shape[0], chunk):
        rows = slice(start, start + chunk)
        eta = linear_predictor(problem.X, coef[rows], intercept[rows])
        loss = data_loss(problem.spec.family, problem.y, eta)
        values[rows] = loss + penalty(coef[rows], alphas[rows], problem.spec.l1_ratio)
    return values
