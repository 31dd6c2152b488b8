"""Penalty factors, bounds and max_features through the API: echoed, honoured along the path, per level."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import Lasso, lasso_path

from tests.conftest import run_job, upload

DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def fit(client: TestClient, dataset_id: str, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a fit job that must succeed; its ModelRead and path document."""
    job = run_job(client, {"dataset_id": dataset_id, "target": "y", **fields})
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    path = client.get(f"/v1/models/{job['model_id']}/path").json()
    return model, path


def coefficients(model: dict[str, Any]) -> dict[str, float]:
    return {c["feature"]: c["value"] for c in model["coefficients"]}


def features_on_path(path: dict[str, Any]) -> list[set[str]]:
    """At each alpha, the original features with a nonzero design column (levels read as their column)."""
    selected: list[set[str]] = [set() for _ in path["alphas"]]
    for column, values in path["coefficients"].items():
        for i, value in enumerate(values):
            if value != 0:
                selected[i].add(column.split("=", 1)[0])
    return selected


def standardized_diabetes(diabetes_arrays: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = diabetes_arrays
    scale = X.std(axis=0)
    return (X - X.mean(axis=0)) / scale, y, scale


@pytest.fixture
def diabetes_id(client: TestClient, diabetes_csv: bytes) -> str:
    return str(upload(client, diabetes_csv)["id"])


def categorical_csv(seed: int) -> bytes:
    """colour (3 levels: red +3, blue -2, green 0) and x drive y; z1 and z2 are noise."""
    rng = np.random.default_rng(seed)
    n = 300
    colour = rng.choice(["red", "green", "blue"], n)
    x, z1, z2 = rng.standard_normal((3, n))
    effect = np.select([colour == "red", colour == "blue"], [3.0, -2.0], 0.0)
    y = 2.0 * x + effect + 0.5 * rng.standard_normal(n)
    rows = [
        f"{c},{float(a)!r},{float(b)!r},{float(d)!r},{float(t)!r}"
        for c, a, b, d, t in zip(colour, x, z1, z2, y, strict=True)
    ]
    return ("colour,x,z1,z2,y\n" + "\n".join(rows) + "\n").encode()


def test_create_job_echoes_constraints_in_request(client: TestClient, diabetes_id: str) -> None:
    body = {
        "dataset_id": diabetes_id,
        "target": "y",
        "alpha": 1.0,
        "cv": None,
        "penalty_factors": {"age": 0, "bmi": 0.5},
        "bounds": {"bmi": [0, None], "s1": [None, 0], "s3": [-2.5, 1]},
        "max_features": 4,
    }
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    for job in (response.json(), client.get(f"/v1/jobs/{response.json()['id']}").json()):
        request = job["request"]
        assert request["penalty_factors"] == {"age": 0.0, "bmi": 0.5}
        assert request["bounds"] == {"bmi": [0.0, None], "s1": [None, 0.0], "s3": [-2.5, 1.0]}
        assert request["max_features"] == 4
    plain = client.post("/v1/jobs", json={"dataset_id": diabetes_id, "target": "y", "alpha": 1.0, "cv": None})
    request = plain.json()["request"]
    assert (
        request["penalty_factors"] is None and request["bounds"] is None and request["max_features"] is None
    )


def test_penalty_factor_zero_keeps_feature_on_whole_path(client: TestClient, diabetes_id: str) -> None:
    model, path = fit(client, diabetes_id, penalty_factors={"age": 0}, cv={"folds": 5})
    # Unpenalized, age is in every fit, even at the largest alpha where nothing else is (penalized,
    # age is among the last features to enter the diabetes path).
    assert all(value != 0 for value in path["coefficients"]["age"])
    assert path["n_selected"][0] == 1 and all(n >= 1 for n in path["n_selected"])
    assert "age" in model["selected_features"] and coefficients(model)["age"] != 0


def test_max_features_may_equal_the_unpenalized_features(client: TestClient, diabetes_id: str) -> None:
    # Two unpenalized features and at most two: the whole path is just those two (the bad-input
    # table has the refused case of fewer).
    model, path = fit(
        client, diabetes_id, penalty_factors={"age": 0, "sex": 0}, max_features=2, cv={"folds": 5}
    )
    assert all(selected == {"age", "sex"} for selected in features_on_path(path))
    assert model["selected_features"] == ["age", "sex"]


def test_penalty_factors_match_sklearn_on_rescaled_columns(
    client: TestClient, diabetes_id: str, diabetes_arrays: Any
) -> None:
    # alpha * pf_j * |b_j| on column x_j is alpha * |c_j| on column x_j / pf_j with c_j = pf_j * b_j.
    factors = {"age": 3.0, "bmi": 0.5, "s5": 2.0}
    model, _ = fit(client, diabetes_id, alpha=0.5, cv=None, penalty_factors=factors, solver={"tol": 1e-12})
    Xs, y, scale = standardized_diabetes(diabetes_arrays)
    pf = np.array([factors.get(name, 1.0) for name in DIABETES_FEATURES])
    reference = Lasso(alpha=0.5, tol=1e-12, max_iter=1_000_000).fit(Xs / pf, y)
    ours = np.array([coefficients(model)[name] for name in DIABETES_FEATURES])
    np.testing.assert_allclose(ours * scale * pf, reference.coef_, rtol=1e-6, atol=1e-8)


def test_bounds_hold_on_whole_path(client: TestClient, diabetes_id: str, diabetes_arrays: Any) -> None:
    bounds = {"bmi": [0.0, 4.0], "s1": [0.0, None], "bp": [None, 0.0]}
    model, path = fit(client, diabetes_id, bounds=bounds, cv={"folds": 5})
    bmi, s1, bp = (np.array(path["coefficients"][name]) for name in ("bmi", "s1", "bp"))
    assert np.all(bmi >= 0) and np.all(bmi <= 4.0 * (1 + 1e-12))
    assert bmi.max() == pytest.approx(4.0, rel=1e-9)
    assert np.all(s1 >= 0) and np.all(bp <= 0)
    value = coefficients(model)
    assert 0 <= value["bmi"] <= 4.0 * (1 + 1e-12) and value["s1"] >= 0 and value["bp"] <= 0
    # The bounds bind: without them, along the same alphas, bmi exceeds 4, s1 goes negative and bp
    # positive.
    Xs, y, scale = standardized_diabetes(diabetes_arrays)
    _, free, _ = lasso_path(Xs, y - y.mean(), alphas=np.array(path["alphas"]))
    column = DIABETES_FEATURES.index
    assert free[column("bmi")].max() / scale[column("bmi")] > 4.0
    assert free[column("s1")].min() < 0 and free[column("bp")].max() > 0


def test_nonnegative_bounds_everywhere_match_sklearn_positive(
    client: TestClient, diabetes_id: str, diabetes_arrays: Any
) -> None:
    bounds = {name: [0.0, None] for name in DIABETES_FEATURES}
    model, _ = fit(client, diabetes_id, alpha=0.5, cv=None, bounds=bounds, solver={"tol": 1e-12})
    Xs, y, scale = standardized_diabetes(diabetes_arrays)
    reference = Lasso(alpha=0.5, tol=1e-12, max_iter=1_000_000, positive=True).fit(Xs, y)
    assert np.any(Lasso(alpha=0.5).fit(Xs, y).coef_ < 0)  # unbounded, some coefficient is negative
    ours = np.array([coefficients(model)[name] for name in DIABETES_FEATURES])
    np.testing.assert_allclose(ours * scale, reference.coef_, rtol=1e-6, atol=1e-8)


def test_max_features_caps_model_and_path(client: TestClient, diabetes_id: str) -> None:
    model, path = fit(client, diabetes_id, max_features=3, cv={"folds": 5})
    assert 1 <= len(model["selected_features"]) <= 3
    assert all(n <= 3 for n in path["n_selected"])
    assert all(len(selected) <= 3 for selected in features_on_path(path))
    assert max(path["n_selected"]) == 3  # the cap is reached, not just respected by a short path
    assert model["alpha"] in path["alphas"]
    cv = client.get(f"/v1/models/{model['id']}/cv").json()
    assert cv["alphas"] == path["alphas"] and cv["alpha_1se"] == model["alpha"]
    assert len(model["selected_features"]) == len(
        features_on_path(path)[path["alphas"].index(model["alpha"])]
    )


@pytest.mark.parametrize("cv", [None, {"folds": 10, "rule": "min"}])
def test_max_features_one_selects_bmi_on_diabetes(
    client: TestClient, diabetes_id: str, cv: dict[str, Any] | None
) -> None:
    # The default grid jumps from no feature to two (bmi, s5); the path is bisected between them
    # for the model with bmi alone. It is the model without CV (the path's last fit) and with the
    # lowest CV error.
    model, path = fit(client, diabetes_id, max_features=1, cv=cv)
    assert model["selected_features"] == ["bmi"]
    assert path["n_selected"] == [0, 1] and model["alpha"] == path["alphas"][1]
    if cv is not None:
        assert client.get(f"/v1/models/{model['id']}/cv").json()["alphas"] == path["alphas"]


def test_categorical_penalty_factor_applies_to_every_level(client: TestClient) -> None:
    dataset = upload(client, categorical_csv(seed=5))
    model, path = fit(client, dataset["id"], penalty_factors={"colour": 0}, cv={"folds": 5})
    levels = ["colour=blue", "colour=green", "colour=red"]
    assert [c["feature"] for c in model["coefficients"]][:3] == levels
    for level in levels:
        assert all(value != 0 for value in path["coefficients"][level]), level
    assert features_on_path(path)[0] == {"colour"}  # at the largest alpha only the unpenalized feature
    assert "colour" in model["selected_features"]


def test_categorical_bounds_apply_to_every_level(client: TestClient) -> None:
    dataset = upload(client, categorical_csv(seed=6))
    model, path = fit(client, dataset["id"], bounds={"colour": [None, 0]}, cv={"folds": 5, "rule": "min"})
    for level in ("colour=blue", "colour=green", "colour=red"):
        assert all(value <= 0 for value in path["coefficients"][level]), level
    # red's +3 can only be told by the other levels going below it: green goes negative too.
    assert min(path["coefficients"]["colour=green"]) < 0
    assert model["metrics"]["train"]["r2"] > 0.8


def test_max_features_counts_a_categorical_once(client: TestClient) -> None:
    dataset = upload(client, categorical_csv(seed=7))
    model, path = fit(client, dataset["id"], max_features=2, cv={"folds": 5, "rule": "min"})
    assert all(len(selected) <= 2 for selected in features_on_path(path))
    assert model["selected_features"] == ["colour", "x"]
    # Three or more design columns (two levels and x) are nonzero: features are counted, not columns.
    assert sum(value != 0 for value in coefficients(model).values()) >= 3
