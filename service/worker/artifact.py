"""The stored model artifact: everything prediction needs, and its JSON descriptions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from service.data.design import DesignEncoder
from service.data.sparse import SparseTable
from service.data.sparse_design import sparse_transform
from service.data.table import Table, quote, short
from service.errors import ValidationError
from service.modeling import Family, FitOutcome, coefficients_at, predict_linear

ClassLabel = str | int | float


@dataclass(frozen=True)
class ModelArtifact:
    """What a worker saves with joblib: the encoder, the outcome (path and CV included), the labels."""

    target: str
    family: Family
    encoder: DesignEncoder
    classes: list[ClassLabel] | None
    outcome: FitOutcome


def _floats(values: npt.NDArray[Any]) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _scalar_or_list(column: npt.NDArray[np.float64], multinomial: bool) -> float | list[float]:
    return _floats(column) if multinomial else float(column[0])


def describe_coefficients(artifact: ModelArtifact) -> list[dict[str, Any]]:
    """One entry per design column, in design order; multinomial values are lists in class order."""
    outcome = artifact.outcome
    multinomial = artifact.family == Family.MULTINOMIAL
    # tolist() once, not a numpy scalar per entry: a 20,000-column model is described 5x faster.
    values = _per_column(outcome.coef, multinomial)
    standardized = _per_column(outcome.coef_std, multinomial)
    return [
        {"feature": name, "value": value, "standardized": std}
        for name, value, std in zip(artifact.encoder.design_columns, values, standardized, strict=True)
    ]


def _per_column(coef: npt.NDArray[np.float64], multinomial: bool) -> list[Any]:
    """(p, K') coefficients as one float (or list of K floats for multinomial) per design column."""
    array = np.asarray(coef, dtype=np.float64)
    values: list[Any] = array.tolist() if multinomial else array[:, 0].tolist()
    return values


def selected_features(artifact: ModelArtifact) -> list[str]:
    nonzero = np.any(artifact.outcome.coef != 0.0, axis=1)
    return artifact.encoder.selected_groups(nonzero)


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def describe_model(artifact: ModelArtifact, penalty: str) -> dict[str, Any]:
    """The fitted part of the API's ModelRead (ids, names and timestamps come from the catalog)."""
    outcome = artifact.outcome
    multinomial = artifact.family == Family.MULTINOMIAL
    selection = outcome.selection
    cv_metrics = outcome.cv_metrics
    return {
        "family": str(artifact.family),
        "penalty": penalty,
        "alpha": float(outcome.alpha),
        "l1_ratio": float(outcome.l1_ratio),
        "target": artifact.target,
        "classes": artifact.classes,
        "intercept": _scalar_or_list(outcome.intercept, multinomial),
        "coefficients": describe_coefficients(artifact),
        "selected_features": selected_features(artifact),
        "metrics": {
            "train": {k: _finite_or_none(v) for k, v in outcome.train_metrics.items()},
            "cv": None if cv_metrics is None else {k: _finite_or_none(v) for k, v in cv_metrics.items()},
        },
        "selection": None
        if selection is None
        else {
            "rule": str(selection.rule),
            "alpha_min": float(selection.alpha_min),
            "alpha_1se": float(selection.alpha_1se),
            "l1_ratio": float(selection.l1_ratio),
        },
        "convergence": {
            "converged": bool(outcome.convergence.converged),
            "n_iter": int(outcome.convergence.n_iter),
            "dual_gap": _finite_or_none(outcome.convergence.dual_gap),
        },
        **_fit_options(artifact),
    }


def _fit_options(artifact: ModelArtifact) -> dict[str, Any]:
    """ModelRead's `relax` (the chosen gamma) and `adaptive` (the penalty factors used), when fitted so."""
    outcome = artifact.outcome
    # Always present (null when not asked for), so every ModelRead has the same members.
    options: dict[str, Any] = {"relax": None, "adaptive": None}
    if outcome.relax_gamma is not None:
        selection = outcome.selection
        options["relax"] = {
            "gamma": float(outcome.relax_gamma),
            # glmnet's gamma.min and gamma.1se: the gammas of the two rules' choices.
            "gamma_min": None if selection is None else _finite_or_none(selection.gamma_min),
            "gamma_1se": None if selection is None else _finite_or_none(selection.gamma_1se),
        }
    if outcome.adaptive is not None:
        factors = outcome.adaptive.factors
        options["adaptive"] = {
            "gamma": float(outcome.adaptive.gamma),
            "initial": outcome.adaptive.initial,
            "initial_alpha": float(outcome.adaptive.initial_alpha),
            # An excluded column (0 in the initial fit) has an infinite factor: null in JSON.
            "penalty_factors": {
                name: _finite_or_none(float(f))
                for name, f in zip(artifact.encoder.design_columns, factors, strict=True)
            },
            "excluded": [
                name
                for name, out in zip(artifact.encoder.design_columns, outcome.adaptive.excluded, strict=True)
                if out
            ],
        }
    return options


def path_columns(artifact: ModelArtifact, names: Sequence[str]) -> list[int]:
    """The design columns of ``names``, in the order named, each once.

    A name is a design column (``bmi``, ``colour=red``) or an original feature, which brings all
    the design columns it became (every level of a categorical). Raises :class:`ValidationError`
    naming the first name the model does not know (``errors[0].loc`` is ``["query", "features"]``).
    """
    encoder = artifact.encoder
    index: dict[str, list[int]] = {}
    for j, group in enumerate(encoder.groups):
        index.setdefault(group, []).append(j)
    # A design column's own name wins: for a numeric feature the two are the same column anyway.
    index.update((name, [j]) for j, name in enumerate(encoder.design_columns))
    chosen: dict[int, None] = {}
    for name in names:
        columns = index.get(name)
        if columns is None:
            msg = f"the model has no feature or design column named {quote(name)}"
            raise ValidationError(
                f"features: {msg}",
                feature=short(name),
                errors=[{"loc": ["query", "features"], "msg": msg, "type": "unknown_feature"}],
            )
        chosen.update(dict.fromkeys(columns))
    return list(chosen)


def _coefficient_rows(artifact: ModelArtifact, columns: Sequence[int] | None) -> tuple[list[str], Any]:
    """The names of ``columns`` (default all) and their paths, one C-contiguous row per column."""
    path = artifact.outcome.path
    names = artifact.encoder.design_columns
    if columns is not None:
        names = [names[j] for j in columns]
    coef = path.coef if columns is None else path.coef[:, list(columns), :]
    # (columns, alphas[, classes]): one contiguous block per column, copied once for all of them.
    per_column = np.moveaxis(coef, 1, 0)
    multinomial = artifact.family == Family.MULTINOMIAL
    return names, np.ascontiguousarray(per_column if multinomial else per_column[:, :, 0])


def _path_summary(artifact: ModelArtifact) -> dict[str, Any]:
    path = artifact.outcome.path
    return {
        "alphas": np.ascontiguousarray(path.alphas, dtype=np.float64),
        "l1_ratio": float(path.l1_ratio),
        "n_selected": np.ascontiguousarray(path.n_selected, dtype=np.int64),
        "deviance_ratio": np.ascontiguousarray(path.deviance_ratio, dtype=np.float64),
        "converged": np.ascontiguousarray(path.converged, dtype=np.bool_),
        "dual_gap": np.ascontiguousarray(path.dual_gap, dtype=np.float64),
    }


def path_arrays(artifact: ModelArtifact, columns: Sequence[int] | None = None) -> dict[str, Any]:
    """The API's path document with numpy arrays for values: alphas, counts, ratios, coefficient paths.

    ``coefficients`` maps each design column (all of them, or ``columns`` in that order) to its
    path: one value per alpha, or for multinomial one list per alpha in class order. Every array is
    C-contiguous, so a JSON writer can take it as it is; :func:`describe_path` gives plain lists.
    """
    names, rows = _coefficient_rows(artifact, columns)
    return {**_path_summary(artifact), "coefficients": dict(zip(names, rows, strict=True))}


def describe_path(artifact: ModelArtifact, columns: Sequence[int] | None = None) -> dict[str, Any]:
    """:func:`path_arrays` as plain lists and numbers, the form the plots take."""
    names, rows = _coefficient_rows(artifact, columns)
    document: dict[str, Any] = {
        key: value.tolist() if isinstance(value, np.ndarray) else value
        for key, value in _path_summary(artifact).items()
    }
    # One tolist() for the whole block: a wide path has millions of values.
    document["coefficients"] = dict(zip(names, rows.tolist(), strict=True))
    return document


def _describe_curve(curve: Any) -> dict[str, Any]:
    return {
        "metric": str(curve.metric),
        "l1_ratio": float(curve.l1_ratio),
        "alphas": _floats(curve.alphas),
        "mean": [_finite_or_none(v) for v in _floats(curve.mean)],
        "se": [_finite_or_none(v) for v in _floats(curve.se)],
        "folds": [[_finite_or_none(v) for v in _floats(row)] for row in curve.folds],
        "alpha_min": float(curve.alpha_min),
        "alpha_1se": float(curve.alpha_1se),
    }


def describe_cv(artifact: ModelArtifact) -> dict[str, Any] | None:
    """The API's CV document: the chosen curve at top level, every curve under `curves`."""
    cv = artifact.outcome.cv
    if cv is None:
        return None
    chosen = next(c for c in cv.curves if float(c.l1_ratio) == float(cv.l1_ratio))
    document = _describe_curve(chosen)
    document["rule"] = str(cv.rule)
    document["fold_ids"] = [int(v) for v in cv.fold_ids]
    if len(cv.curves) > 1:
        document["curves"] = [_describe_curve(c) for c in cv.curves]
    if cv.relaxed:  # the relaxed lasso: one curve per gamma, gamma 1 the lasso's
        document["relaxed_curves"] = [
            {"gamma": float(c.relax_gamma or 0.0), **_describe_curve(c)} for c in cv.relaxed
        ]
    return document


@dataclass(frozen=True)
class Prediction:
    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[ClassLabel] | None


def predict(artifact: ModelArtifact, table: Table | SparseTable, alpha: float | None) -> Prediction:
    """Predict for `table` (columns matched by name) at the chosen alpha or another one on the path.

    A sparse table gives a sparse design: its predictions are sparse products, never densified.
    """
    if isinstance(table, SparseTable):
        X = sparse_transform(artifact.encoder, table)
    else:
        X = artifact.encoder.transform(table)
    if alpha is None:
        intercept, coef = artifact.outcome.intercept, artifact.outcome.coef
    else:
        intercept, coef = coefficients_at(artifact.outcome.path, alpha)
    result = predict_linear(X, intercept, coef, artifact.family)
    if artifact.classes is None:
        return Prediction(_floats(result.values), None, None)
    labels = [artifact.classes[int(code)] for code in result.values]
    probabilities = None if result.probabilities is None else [_floats(row) for row in result.probabilities]
    return Prediction(labels, probabilities, artifact.classes)
