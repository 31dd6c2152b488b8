"""Selection jobs (stability, knockoffs, bootstrap) and the fit options (relax, adaptive, groups,
inference) through the API: what is stored and read back, and the 422s for what cannot be honoured."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import csv_bytes, run_job, upload

DIABETES_FEATURES = {"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}


def _known_truth(n: int = 400, p: int = 40, k: int = 6, seed: int = 3) -> tuple[bytes, set[str]]:
    """A gaussian table whose first k of p independent features carry a strong signal."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X[:, :k] @ np.full(k, 1.0) + rng.standard_normal(n)
    names = [f"x{j}" for j in range(p)]
    return csv_bytes([*names, "y"], np.column_stack([X, y]).tolist()), set(names[:k])


@pytest.fixture
def diabetes(client: TestClient, diabetes_csv: bytes) -> dict[str, Any]:
    return upload(client, diabetes_csv)


def _selection(client: TestClient, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    job = run_job(client, body)
    assert job["status"] == "succeeded", job
    assert job["model_id"] is None and job["selection_id"]
    response = client.get(f"/v1/selections/{job['selection_id']}")
    assert response.status_code == 200
    return job, response.json()


def test_stability_job_stores_a_selection_with_its_bound_and_plot(
    client: TestClient, diabetes: dict[str, Any]
) -> None:
    body = {"dataset_id": diabetes["id"], "target": "y", "kind": "stability", "stability": {"n_pairs": 10}}
    job, selection = _selection(client, body)
    assert job["kind"] == "stability" and job["request"]["stability"]["pfer"] == 1.0
    assert selection["kind"] == "stability" and selection["job_id"] == job["id"]
    assert selection["target"] == "y" and selection["dataset_id"] == diabetes["id"]
    assert {"bmi", "s5"} <= set(selection["selected"]) <= DIABETES_FEATURES
    # The documented bound holds for the stable set it reports, and the set is the threshold's.
    assert selection["pfer_bound"] <= selection["pfer"] == 1.0
    probabilities = {f["feature"]: f["probability"] for f in selection["features"]}
    assert set(probabilities) == DIABETES_FEATURES
    stable = {name for name, value in probabilities.items() if value >= selection["threshold"]}
    assert stable == set(selection["selected"])
    assert len(selection["alphas"]) == len(next(iter(selection["paths"].values())))
    plot = client.get(f"/v1/selections/{job['selection_id']}/plots/stability.svg")
    assert plot.status_code == 200 and plot.headers["content-type"].startswith("image/svg+xml")
    assert "bmi" in plot.text
    listed = client.get("/v1/selections").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == job["selection_id"]
    assert client.delete(f"/v1/selections/{job['selection_id']}").status_code == 204
    gone = client.get(f"/v1/selections/{job['selection_id']}")
    assert gone.status_code == 404 and gone.json()["type"] == "/problems/not-found"


def test_stability_with_a_threshold_is_reproducible(client: TestClient, diabetes: dict[str, Any]) -> None:
    body = {
        "dataset_id": diabetes["id"],
        "target": "y",
        "kind": "stability",
        "stability": {"n_pairs": 6, "threshold": 0.8, "seed": 4},
    }
    first, second = _selection(client, body)[1], _selection(client, body)[1]
    assert first["threshold"] == 0.8 and first["features"] == second["features"]
    assert first["selected"] == second["selected"]


def test_knockoffs_find_the_true_features_of_a_known_design(client: TestClient) -> None:
    table, truth = _known_truth()
    dataset = upload(client, table)
    body = {"dataset_id": dataset["id"], "target": "y", "kind": "knockoffs", "knockoffs": {"fdr": 0.2}}
    job, selection = _selection(client, body)
    assert selection["kind"] == "knockoffs" and selection["fdr"] == 0.2
    assert selection["method"] == "fixed-x"  # n = 400 >= 2 p = 80
    assert truth <= set(selection["selected"])  # a strong signal: every true feature found
    statistics = {f["feature"]: f["statistic"] for f in selection["features"]}
    assert all(statistics[name] >= selection["threshold"] for name in selection["selected"])
    plot = client.get(f"/v1/selections/{job['selection_id']}/plots/stability.svg")
    assert plot.status_code == 404


def test_bootstrap_reports_frequencies_and_intervals(client: TestClient, diabetes: dict[str, Any]) -> None:
    body = {
        "dataset_id": diabetes["id"],
        "target": "y",
        "alpha": 0.5,
        "kind": "bootstrap",
        "bootstrap": {"replicates": 30, "level": 0.9},
    }
    _, selection = _selection(client, body)
    assert selection["alpha"] == 0.5 and selection["replicates"] == 30 and selection["level"] == 0.9
    features = {f["feature"]: f for f in selection["features"]}
    assert set(features) == DIABETES_FEATURES
    assert all(0.0 <= f["frequency"] <= 1.0 and f["lower"] <= f["upper"] for f in features.values())
    assert features["bmi"]["frequency"] == 1.0 and features["bmi"]["lower"] > 0
    # Selected: exactly the columns whose interval excludes 0.
    excluding = {name for name, f in features.items() if f["lower"] > 0 or f["upper"] < 0}
    assert set(selection["selected"]) == excluding


def test_bootstrap_over_the_path_reports_frequencies_at_every_alpha(
    client: TestClient, diabetes: dict[str, Any]
) -> None:
    body = {
        "dataset_id": diabetes["id"],
        "target": "y",
        "kind": "bootstrap",
        "path": {"n_alphas": 20},
        "cv": {"folds": 5},
        "bootstrap": {"replicates": 10, "over_path": True},
    }
    _, selection = _selection(client, body)
    alphas = selection["alphas"]
    assert len(alphas) == 20 and alphas == sorted(alphas, reverse=True)
    assert selection["alpha"] in alphas
    bmi = selection["frequency_path"]["bmi"]
    assert len(bmi) == 20 and bmi[0] <= bmi[-1] == 1.0  # none at alpha_max, always at the smallest
    at = alphas.index(selection["alpha"])
    assert selection["feature_frequency"]["bmi"] == bmi[at]


def test_relax_reports_its_gamma_and_blends_the_lasso_with_ols(
    client: TestClient, diabetes: dict[str, Any], diabetes_arrays: tuple[np.ndarray, np.ndarray]
) -> None:
    job = run_job(client, {"dataset_id": diabetes["id"], "target": "y", "relax": True})
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    gamma = model["relax"]["gamma"]
    assert gamma in (0.0, 0.25, 0.5, 0.75, 1.0)
    # The definition: gamma * lasso + (1 - gamma) * least squares on the lasso's active set, at the
    # chosen alpha; the stored path is the lasso's.
    path = client.get(f"/v1/models/{job['model_id']}/path").json()
    at = int(np.argmin(np.abs(np.log(path["alphas"]) - np.log(model["alpha"]))))
    names = [c["feature"] for c in model["coefficients"]]
    lasso = np.array([path["coefficients"][name][at] for name in names])
    active = np.flatnonzero(lasso)
    X, y = diabetes_arrays
    ols = np.zeros_like(lasso)
    ols[active] = np.linalg.lstsq(np.column_stack([np.ones(len(y)), X[:, active]]), y, rcond=None)[0][1:]
    expected = gamma * lasso + (1 - gamma) * ols
    got = np.array([c["value"] for c in model["coefficients"]])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    assert model["relax"]["gamma"] == model["relax"]["gamma_1se"]  # the default rule is 1se
    curves = client.get(f"/v1/models/{job['model_id']}/cv").json()["relaxed_curves"]
    assert [c["gamma"] for c in curves] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_adaptive_reports_the_factors_it_used(client: TestClient, diabetes: dict[str, Any]) -> None:
    body = {"dataset_id": diabetes["id"], "target": "y", "adaptive": {"gamma": 1.0, "initial": "ridge"}}
    job = run_job(client, body)
    assert job["status"] == "succeeded", job
    adaptive = client.get(f"/v1/models/{job['model_id']}").json()["adaptive"]
    assert adaptive["initial"] == "ridge" and adaptive["gamma"] == 1.0
    factors = adaptive["penalty_factors"]
    assert set(factors) == DIABETES_FEATURES
    assert all(f is None or f > 0 for f in factors.values())


def test_groups_enter_and_leave_as_a_whole(client: TestClient, diabetes: dict[str, Any]) -> None:
    blood = ["s1", "s2", "s3", "s4", "s5", "s6"]
    body = {"dataset_id": diabetes["id"], "target": "y", "groups": {"blood": blood}, "cv": {"folds": 5}}
    job = run_job(client, body)
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert model["groups"] == {"blood": blood}
    values = {c["feature"]: c["value"] for c in model["coefficients"]}
    assert len({values[name] != 0 for name in blood}) == 1  # all in or all out
    path = client.get(f"/v1/models/{job['model_id']}/path").json()
    in_group = np.array([path["coefficients"][name] for name in blood]) != 0
    assert np.all(in_group.all(axis=0) | ~in_group.any(axis=0))  # at every alpha


def test_inference_reports_p_values_and_intervals(client: TestClient, diabetes: dict[str, Any]) -> None:
    body = {"dataset_id": diabetes["id"], "target": "y", "alpha": 0.5, "inference": True, "cv": None}
    job = run_job(client, body)
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    inference = model["inference"]
    assert inference["sigma"] > 0 and inference["level"] == 0.95
    assert {f["feature"] for f in inference["features"]} == set(model["selected_features"])
    for feature in inference["features"]:
        assert 0.0 <= feature["p_value"] <= 1.0
        if feature["lower"] is not None and feature["upper"] is not None:
            assert feature["lower"] < feature["upper"]
    bmi = next(f for f in inference["features"] if f["feature"] == "bmi")
    assert bmi["p_value"] < 1e-6 and bmi["lower"] > 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"kind": "knockoffs", "knockoffs": {"fdr": 1.5}}, "fdr"),
        ({"kind": "knockoffs", "knockoffs": {"fdr": 0}}, "fdr"),
        ({"kind": "stability", "stability": {"threshold": 0.4}}, "threshold"),
        ({"kind": "stability", "stability": {"threshold": 1.0}}, "threshold"),
        ({"kind": "stability", "stability": {"threshold": 0.8, "pfer": 1}}, "pfer"),
        ({"kind": "stability", "stability": {"fraction": 0.7}}, "fraction"),
        ({"kind": "stability", "alpha": 0.1}, "alpha"),
        ({"kind": "fit", "stability": {}}, "stability"),
        ({"kind": "bootstrap", "bootstrap": {"replicates": 1}}, "replicates"),
        ({"kind": "bootstrap", "relax": True}, "relax"),
        ({"kind": "selection"}, "kind"),
        ({"inference": True}, "inference"),
        ({"inference": True, "alpha": 0.1, "penalty": "elasticnet", "l1_ratio": 0.5}, "inference"),
        ({"relax": True, "penalty": "ridge"}, "relax"),
        ({"relax": True, "penalty": "elasticnet", "cv": {"l1_ratios": [0.5, 0.9]}}, "relax"),
        ({"groups": {"a": ["bmi"], "b": ["bmi", "bp"]}}, "bmi"),
        ({"groups": {"a": []}}, "groups"),
        ({"groups": {"a": ["bmi", "bp"]}, "penalty_factors": {"bmi": 0.5}}, "penalty_factors"),
        ({"groups": {"a": ["bmi", "bp"]}, "family": "multinomial"}, "groups"),
        ({"adaptive": {"gamma": 0}}, "gamma"),
        ({"adaptive": {"initial": "ols"}}, "initial"),
    ],
)
def test_selection_options_that_cannot_be_honoured_are_422(
    client: TestClient, diabetes: dict[str, Any], extra: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/jobs", json={"dataset_id": diabetes["id"], "target": "y", **extra})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/validation" and field in response.text


def test_groups_naming_unknown_columns_are_422_naming_them(
    client: TestClient, diabetes: dict[str, Any]
) -> None:
    body = {"dataset_id": diabetes["id"], "target": "y", "groups": {"blood": ["s1", "nope"], "t": ["y"]}}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert "nope" in problem["detail"] and "groups.blood" in problem["detail"]
    locs = [error["loc"] for error in problem["errors"]]
    assert ["body", "groups", "blood", 1] in locs and ["body", "groups", "t", 0] in locs
    assert client.get("/v1/jobs").json()["total"] == 0  # nothing was queued


def test_knockoffs_beyond_their_size_are_refused_at_submit(
    client: TestClient, diabetes: dict[str, Any], settings: Settings
) -> None:
    names = [f"x{j}" for j in range(2001)]
    table = csv_bytes([*names, "y"], [[float(i + j) for j in range(2002)] for i in range(5)])
    with TestClient(create_app(settings.model_copy(update={"max_columns": 3000}))) as roomy:
        wide = upload(roomy, table)
        body = {"dataset_id": wide["id"], "target": "y", "kind": "knockoffs"}
        response = roomy.post("/v1/jobs", json=body)
    assert response.status_code == 422 and "at most 2000" in response.json()["detail"]
    fixed = {"kind": "knockoffs", "knockoffs": {"method": "fixed-x"}}
    three = client.post(
        "/v1/jobs",
        json={"dataset_id": diabetes["id"], "target": "y", "features": ["age", "sex", "bmi"], **fixed},
    )
    assert three.status_code == 202  # 442 rows >= 2 x 3 + 1
    five_rows = upload(client, csv_bytes(["a", "b", "c", "y"], [[1.0, 2.0, 3.0, 4.0 + i] for i in range(5)]))
    refused = client.post("/v1/jobs", json={"dataset_id": five_rows["id"], "target": "y", **fixed})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "knockoffs", "method"]
    assert "2p + 1 = 7" in refused.json()["detail"]
