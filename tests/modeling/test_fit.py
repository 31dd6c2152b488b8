"""fit_model as a whole: determinism, progress and cancel, outcome shapes, refused specs."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from service.errors import InvalidDataError, JobCanceledError, ValidationError
from service.modeling import CVMetric, CVSpec, Family, FitOutcome, FitSpec, PathSpec, fit_model

if TYPE_CHECKING:
    from tests.modeling.conftest import Data


def _arrays_equal(a: Any, b: Any) -> bool:
    """Bit-identical comparison of nested outcomes (NaN equal to NaN)."""
    if dataclasses.is_dataclass(a):
        return all(_arrays_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_arrays_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_arrays_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def test_fit_model_is_bit_identical_across_runs(iris: Data) -> None:
    spec = FitSpec(
        Family.MULTINOMIAL, 0.5, None, PathSpec(n_alphas=6, alpha_min_ratio=0.05), CVSpec(n_folds=3)
    )
    first, second = fit_model(iris.X, iris.y, spec), fit_model(iris.X, iris.y, spec)
    assert _arrays_equal(first, second)
    changed = fit_model(iris.X, iris.y, dataclasses.replace(spec, cv=CVSpec(n_folds=3, seed=1)))
    assert not _arrays_equal(first, changed)


def test_fit_model_reports_progress_by_stage_and_ends_at_one(diabetes: Data) -> None:
    calls: list[tuple[float, str]] = []
    # Explicit alphas: a generated grid may stop early when the deviance ratio saturates.
    alphas = tuple(np.geomspace(10.0, 0.01, 25))
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(alphas=alphas), CVSpec(n_folds=3))
    fit_model(diabetes.X, diabetes.y, spec, checkpoint=lambda f, s: calls.append((f, s)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions[0] > 0.0
    assert [s for _, s in calls][:4] == ["path"] * 4  # 3 blocks of alphas, then the path is done
    assert {s for _, s in calls} == {"path", "cv"}
    # Per fold: 3 blocks plus the fold itself.
    assert sum(1 for _, s in calls if s == "cv") == 3 * 4


def test_fit_model_lets_a_cancel_from_the_checkpoint_propagate(diabetes: Data) -> None:
    def cancel(fraction: float, stage: str) -> None:
        if stage == "cv":
            raise JobCanceledError("canceled")

    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=5), CVSpec(n_folds=3))
    with pytest.raises(JobCanceledError):
        fit_model(diabetes.X, diabetes.y, spec, checkpoint=cancel)


def test_fit_model_single_alpha_path_holds_that_alpha(breast_cancer: Data) -> None:
    spec = FitSpec(Family.BINOMIAL, 1.0, 0.05, PathSpec(n_alphas=50), None, tol=1e-8)
    outcome = fit_model(breast_cancer.X, breast_cancer.y, spec)
    assert outcome.path.alphas.tolist() == [0.05] and outcome.alpha == 0.05
    assert outcome.coef.shape == (30, 1) and outcome.intercept.shape == (1,)
    assert outcome.cv is None and outcome.selection is None and outcome.cv_metrics is None
    assert set(outcome.train_metrics) == {"deviance", "misclassification", "auc"}
    assert 0.9 < outcome.train_metrics["auc"] <= 1.0
    assert outcome.path.n_selected[0] == np.count_nonzero(outcome.coef)


def test_fit_model_multinomial_outcome_shapes(iris: Data) -> None:
    spec = FitSpec(Family.MULTINOMIAL, 1.0, None, PathSpec(n_alphas=4, alpha_min_ratio=0.01), None)
    outcome: FitOutcome = fit_model(iris.X, iris.y, spec, n_classes=3)
    assert outcome.n_classes == 3
    assert outcome.path.coef.shape == (4, 4, 3) and outcome.path.intercept.shape == (4, 3)
    assert np.allclose(outcome.path.intercept.sum(axis=1), 0.0, atol=1e-12)
    assert set(outcome.train_metrics) == {"deviance", "misclassification"}
    assert abs(outcome.path.deviance_ratio[0]) < 1e-9 < outcome.path.deviance_ratio[-1]


def _refused(data: Data, spec: FitSpec, **kwargs: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        fit_model(data.X, data.y, spec, **kwargs)
    return raised.value.detail.split(":")[0]


def test_fit_model_refuses_impossible_specs(iris: Data, diabetes: Data) -> None:
    gaussian = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=3), CVSpec(n_folds=3))
    multinomial = dataclasses.replace(gaussian, family=Family.MULTINOMIAL)
    assert _refused(diabetes, dataclasses.replace(gaussian, alpha=0.0)) == "alpha"
    assert _refused(diabetes, dataclasses.replace(gaussian, l1_ratio=1.5)) == "l1_ratio"
    assert _refused(diabetes, dataclasses.replace(gaussian, path=PathSpec(n_alphas=0))) == "path.n_alphas"
    assert (
        _refused(diabetes, dataclasses.replace(gaussian, path=PathSpec(alphas=(1.0, -1.0)))) == "path.alphas"
    )
    assert _refused(diabetes, dataclasses.replace(gaussian, cv=CVSpec(n_folds=1000))) == "cv.folds"
    assert _refused(diabetes, dataclasses.replace(gaussian, cv=CVSpec(metric=CVMetric.AUC))) == "cv.metric"
    assert _refused(diabetes, dataclasses.replace(gaussian, cv=CVSpec(stratify=True))) == "cv.stratify"
    assert _refused(iris, dataclasses.replace(multinomial, cv=CVSpec(metric=CVMetric.AUC))) == "cv.metric"
    assert _refused(iris, dataclasses.replace(multinomial, cv=CVSpec(metric=CVMetric.MSE))) == "cv.metric"
    assert _refused(iris, multinomial, fold_ids=np.zeros(150, dtype=np.int64)) == "cv.fold_column"


def test_fit_model_refuses_unusable_targets(iris: Data) -> None:
    binomial = FitSpec(Family.BINOMIAL, 1.0, 0.1, PathSpec(), None)
    with pytest.raises(InvalidDataError):
        fit_model(iris.X, iris.y, binomial)  # three classes
    with pytest.raises(InvalidDataError):
        fit_model(iris.X, iris.y, dataclasses.replace(binomial, family=Family.MULTINOMIAL), n_classes=4)
