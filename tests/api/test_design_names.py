"""POST /v1/jobs refuses features whose design columns would share a name (numeric g=a, categorical g)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import upload

CLASH = b"g=a,g,y\n1,a,1.5\n2,b,2.5\n3,a,3.1\n4,b,4.2\n5,a,5.0\n"


def test_create_job_with_two_features_giving_one_design_column_is_422(client: TestClient) -> None:
    dataset = upload(client, CLASH)
    refused = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "cv": None})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/invalid-data"
    assert problem["design_column"] == "g=a" and problem["columns"] == ["g=a", "g"]
    assert client.get("/v1/jobs").json()["total"] == 0
    # Either feature alone is fine, and its coefficients are uniquely named.
    for features, names in ((["g"], ["g=a", "g=b"]), (["g=a"], ["g=a"])):
        body = {"dataset_id": dataset["id"], "target": "y", "cv": None, "alpha": 0.01, "features": features}
        job = client.post("/v1/jobs", json=body).json()
        model_id = client.get(f"/v1/jobs/{job['id']}?wait=30").json()["model_id"]
        model = client.get(f"/v1/models/{model_id}").json()
        assert [c["feature"] for c in model["coefficients"]] == names
