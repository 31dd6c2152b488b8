"""The in-memory model cache: bounded by bytes, left by deleted models, never a way around the checks."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.api.artifact_cache import ArtifactCache
from service.app import create_app
from service.config import Settings
from tests.conftest import run_job, upload

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
ROW = {"columns": FEATURES, "data": [[50, 1, 25.0, 90, 180, 100, 50, 4, 4.5, 90]]}


def _cache(client: TestClient) -> ArtifactCache:
    # The lifespan's state, which the TestClient keeps for the requests it sends.
    return client.app_state["services"].artifacts  # type: ignore[no-any-return]


def _models(client: TestClient, diabetes_csv: bytes, alphas: list[float]) -> list[str]:
    dataset = upload(client, diabetes_csv)
    ids = []
    for alpha in alphas:
        job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "alpha": alpha, "cv": None})
        assert job["status"] == "succeeded", job
        ids.append(str(job["model_id"]))
    return ids


def _file(settings: Settings, model_id: str) -> Path:
    return settings.data_dir / "models" / f"{model_id}.joblib"


def _predict(client: TestClient, model_id: str) -> float:
    response = client.post(f"/v1/models/{model_id}/predictions", json=ROW)
    assert response.status_code == 200, response.text
    return float(response.json()["predictions"][0])


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_cache_is_bounded_by_bytes_and_evicts_least_recently_used(
    settings: Settings, diabetes_csv: bytes
) -> None:
    with TestClient(create_app(settings)) as client:
        first, second, third = _models(client, diabetes_csv, [0.5, 1.0, 2.0])
    sizes = {model: _file(settings, model).stat().st_size for model in (first, second, third)}
    # Room for the two largest files, never for all three.
    budget = sum(sorted(sizes.values())[1:])
    assert budget < sum(sizes.values())
    with TestClient(create_app(settings.model_copy(update={"model_cache_bytes": budget}))) as client:
        cache = _cache(client)
        assert cache.cached_ids() == []
        _predict(client, first)
        _predict(client, second)
        assert cache.cached_ids() == [first, second]
        assert cache.size_bytes == sizes[first] + sizes[second]
        _predict(client, first)  # now the most recently used
        _predict(client, third)
        assert cache.cached_ids() == [first, third]
        assert cache.size_bytes == sizes[first] + sizes[third] <= budget


def test_model_larger_than_the_budget_is_served_but_not_kept(settings: Settings, diabetes_csv: bytes) -> None:
    with TestClient(create_app(settings.model_copy(update={"model_cache_bytes": 100}))) as client:
        (model,) = _models(client, diabetes_csv, [1.0])
        _predict(client, model)
        assert _cache(client).cached_ids() == [] and _cache(client).size_bytes == 0


def test_deleted_model_leaves_the_cache(client: TestClient, diabetes_csv: bytes) -> None:
    kept, deleted = _models(client, diabetes_csv, [0.5, 1.0])
    _predict(client, kept)
    _predict(client, deleted)
    assert sorted(_cache(client).cached_ids()) == sorted([kept, deleted])
    assert client.delete(f"/v1/models/{deleted}").status_code == 204
    assert _cache(client).cached_ids() == [kept]
    assert client.post(f"/v1/models/{deleted}/predictions", json=ROW).status_code == 404


def test_deleting_a_dataset_keeps_its_models_and_their_cache_entries(
    client: TestClient, diabetes_csv: bytes
) -> None:
    dataset = upload(client, diabetes_csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "alpha": 1.0, "cv": None})
    model = str(job["model_id"])
    before = _predict(client, model)
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert _cache(client).cached_ids() == [model]
    assert _predict(client, model) == before


def test_tampered_file_is_refused_on_the_next_cold_load_after_a_restart(
    settings: Settings, diabetes_csv: bytes
) -> None:
    with TestClient(create_app(settings)) as client:
        (model,) = _models(client, diabetes_csv, [1.0])
        before = _predict(client, model)
        _tamper(_file(settings, model))
        # Warm: the artifact verified when it entered memory still answers.
        assert _predict(client, model) == before
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        refused = client.post(f"/v1/models/{model}/predictions", json=ROW)
        assert refused.status_code == 500, refused.text
        assert refused.json()["type"] == "/problems/integrity"
        assert _cache(client).cached_ids() == []


def test_tampered_file_is_refused_once_its_entry_was_evicted(settings: Settings, diabetes_csv: bytes) -> None:
    with TestClient(create_app(settings)) as client:
        tampered, other = _models(client, diabetes_csv, [1.0, 2.0])
    # Room for one model: loading the other evicts the tampered one.
    budget = max(_file(settings, model).stat().st_size for model in (tampered, other))
    limited = settings.model_copy(update={"model_cache_bytes": budget})
    with TestClient(create_app(limited), raise_server_exceptions=False) as client:
        _predict(client, tampered)
        _tamper(_file(settings, tampered))
        _predict(client, other)
        assert _cache(client).cached_ids() == [other]
        refused = client.post(f"/v1/models/{tampered}/predictions", json=ROW)
        assert refused.status_code == 500, refused.text
        assert refused.json()["type"] == "/problems/integrity"
        assert _cache(client).cached_ids() == [other]
