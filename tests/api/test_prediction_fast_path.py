"""The ASGI fast path answers plain small predictions exactly as the route does, and leaves it the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api import prediction_fast_path
from service.app import create_app
from service.config import Settings
from tests.conftest import run_job, upload

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
ROWS = [[50, 1, 25.0, 90, 180, 100, 50, 4, 4.5, 90], [30, 2, 21.5, 80, 150, 90, 60, 3, 4.0, 85]]


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the predictions the fast path answers itself."""
    calls: list[int] = []
    original: Callable[..., Any] = prediction_fast_path._inline_response

    def counting(*args: Any) -> Any:
        answer = original(*args)
        if answer is not None:  # after: a prediction that raised or declined went back to the route
            calls.append(1)
        return answer

    monkeypatch.setattr(prediction_fast_path, "_inline_response", counting)
    return calls


def _model(client: TestClient, diabetes_csv: bytes) -> str:
    dataset = upload(client, diabetes_csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "alpha": 1.0, "cv": None})
    assert job["status"] == "succeeded", job
    return str(job["model_id"])


def test_plain_prediction_of_a_cached_model_is_answered_by_the_fast_path_as_by_the_route(
    client: TestClient, diabetes_csv: bytes, taken: list[int]
) -> None:
    model = _model(client, diabetes_csv)
    url = f"/v1/models/{model}/predictions"
    body = {"columns": FEATURES, "data": ROWS}
    cold = client.post(url, json=body)  # not cached yet: the route loads the model
    assert cold.status_code == 200 and taken == []
    fast = client.post(url, json=body)
    assert fast.status_code == 200 and taken == [1]
    # A query string (here the default value) sends it through the route, with the same answer.
    routed = client.post(f"{url}?zero_based=false", json=body)
    assert routed.status_code == 200 and taken == [1]
    assert fast.json() == routed.json() == cold.json()
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert fast.headers["x-request-id"]
    metrics = client.get("/metrics").text
    assert 'route="/v1/models/{model_id}/predictions",status="200"} 3.0' in metrics, metrics


def test_problems_are_the_routes_own(client: TestClient, diabetes_csv: bytes, taken: list[int]) -> None:
    model = _model(client, diabetes_csv)
    url = f"/v1/models/{model}/predictions"
    assert client.post(url, json={"columns": FEATURES, "data": ROWS}).status_code == 200
    taken.clear()
    missing = client.post(url, json={"columns": FEATURES[:-1], "data": [row[:-1] for row in ROWS]})
    assert missing.status_code == 422 and "s6" in missing.json()["detail"], missing.text
    bad_value = client.post(url, json={"columns": FEATURES, "data": [[*ROWS[0][:-1], "x"]]})
    assert bad_value.status_code == 422, bad_value.text
    unknown = client.post(
        "/v1/models/0123456789abcdef0123456789abcdef/predictions", json={"columns": FEATURES, "data": ROWS}
    )
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/not-found"
    not_json = client.post(url, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422, not_json.text
    assert taken == []


def test_other_bodies_go_to_the_route(client: TestClient, diabetes_csv: bytes, taken: list[int]) -> None:
    model = _model(client, diabetes_csv)
    url = f"/v1/models/{model}/predictions"
    assert client.post(url, json={"columns": FEATURES, "data": ROWS}).status_code == 200
    taken.clear()
    csv = "\n".join([",".join(FEATURES), *(",".join(map(str, row)) for row in ROWS)]) + "\n"
    as_csv = client.post(url, content=csv.encode(), headers={"Content-Type": "text/csv"})
    records = client.post(url, json=[dict(zip(FEATURES, row, strict=True)) for row in ROWS])
    by_query = client.post(f"{url}?alpha=1.0", json={"columns": FEATURES, "data": ROWS})
    assert as_csv.status_code == records.status_code == by_query.status_code == 200
    assert as_csv.json() == records.json() == by_query.json()
    assert taken == []
    # An alpha in the body is read by the same reader as the route's: taken, with the same answer.
    in_body = client.post(url, json={"columns": FEATURES, "data": ROWS, "alpha": 1.0})
    assert in_body.status_code == 200 and in_body.json() == by_query.json()
    assert taken == [1]


def test_with_keys_a_tenant_gets_its_own_model_and_not_anothers(
    settings: Settings, diabetes_csv: bytes, taken: list[int]
) -> None:
    keys = SecretStr("acme:acme-key-0123456789,globex:globex-key-9876543210")
    with TestClient(create_app(settings.model_copy(update={"api_keys": keys}))) as client:
        client.headers["Authorization"] = "Bearer acme-key-0123456789"
        model = _model(client, diabetes_csv)
        url = f"/v1/models/{model}/predictions"
        body = {"columns": FEATURES, "data": ROWS}
        assert client.post(url, json=body).status_code == 200
        assert client.post(url, json=body).status_code == 200 and taken == [1]
        client.headers["Authorization"] = "Bearer globex-key-9876543210"
        assert client.post(url, json=body).status_code == 404
        del client.headers["Authorization"]
        assert client.post(url, json=body).status_code == 401
        assert taken == [1]


def test_numeric_bodies_of_numeric_models_skip_the_table_and_predict_the_same(
    client: TestClient, diabetes_csv: bytes, taken: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The numeric lane (numbers straight into the design) answers what the table reading answers."""
    model = _model(client, diabetes_csv)
    url = f"/v1/models/{model}/predictions"
    assert client.post(url, json={"columns": FEATURES, "data": ROWS}).status_code == 200  # cached now
    lane: list[bool] = []
    original: Callable[..., Any] = prediction_fast_path.numeric_design

    def recording(*args: Any) -> Any:
        design = original(*args)
        lane.append(design is not None)
        return design

    monkeypatch.setattr(prediction_fast_path, "numeric_design", recording)
    shuffled = [*reversed(FEATURES), "extra"]
    rows = [[*reversed(row), 7] for row in ROWS]
    floats = [[float(v) for v in row] for row in rows]
    answers = [client.post(url, json={"columns": shuffled, "data": body}) for body in (rows, floats)]
    assert lane == [True, True] and taken == [1, 1]
    # Through the route (a query string), read as a table: the very same numbers.
    routed = client.post(f"{url}?zero_based=false", json={"columns": shuffled, "data": rows})
    assert all(a.status_code == 200 for a in answers) and routed.status_code == 200
    assert answers[0].json() == answers[1].json() == routed.json()
    declined = [
        {"columns": FEATURES, "data": ROWS * 500},  # many rows (over 16 KiB): the chunked reader is faster
        {"columns": FEATURES, "data": [[*ROWS[0][:-1], None]]},  # a missing value
        {"columns": FEATURES, "data": [[*ROWS[0][:-1], "90"]]},  # a number as text
        {"columns": FEATURES, "data": [[*ROWS[0][:-1], True]]},  # a bool
        {"columns": FEATURES[:-1], "data": [ROWS[0][:-1]]},  # a feature missing
        {"columns": FEATURES, "data": [ROWS[0][:-1]]},  # a short row
        {"columns": [*FEATURES, "age"], "data": [[*ROWS[0], 1]]},  # a name twice
    ]
    lane.clear()
    for body in declined:
        fast = client.post(url, json=body)
        slow = client.post(f"{url}?zero_based=false", json=body)
        assert (fast.status_code, fast.json()) == (slow.status_code, slow.json()), body
    assert lane == [False] * len(declined)
