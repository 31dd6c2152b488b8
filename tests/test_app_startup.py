"""Start-up removes the model and dataset files no catalog row knows (a job or an upload died)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.store import new_id
from tests.conftest import run_job, upload

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def test_startup_removes_unknown_model_files_and_keeps_known_ones(
    settings: Settings, diabetes_csv: bytes
) -> None:
    with TestClient(create_app(settings)) as client:
        dataset = upload(client, diabetes_csv)
        job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "alpha": 1.0})
        assert job["status"] == "succeeded", job
    models = settings.data_dir / "models"
    known = models / f"{job['model_id']}.joblib"
    # A whole, signed model file under a valid id, as a job that died after its save leaves it.
    orphan = models / f"{new_id()}.joblib"
    orphan.write_bytes(known.read_bytes())
    foreign = models / "notes.txt"  # not a model file: not the sweep's to remove
    foreign.write_text("an operator's note")
    with TestClient(create_app(settings)) as client:
        assert not orphan.exists()
        assert known.exists() and foreign.exists()
        model = client.get(f"/v1/models/{job['model_id']}")
        assert model.status_code == 200
        body = {"columns": FEATURES, "data": [[50, 1, 25.0, 90, 180, 100, 50, 4, 4.5, 90]]}
        prediction = client.post(f"/v1/models/{job['model_id']}/predictions", json=body)
        assert prediction.status_code == 200 and len(prediction.json()["predictions"]) == 1


def test_startup_removes_datasets_whose_upload_died_before_its_catalog_row(
    settings: Settings, diabetes_csv: bytes
) -> None:
    with TestClient(create_app(settings)) as client:
        dataset = upload(client, diabetes_csv)
    directory = settings.data_dir / "datasets"
    known = directory / f"{dataset['id']}.arrow"
    # What an upload leaves when the process dies between its files and its catalog row: a stored
    # table, or a partitioned dataset's manifest and partition directory.
    dense_orphan = directory / f"{new_id()}.arrow"
    dense_orphan.write_bytes(known.read_bytes())
    partitioned = new_id()
    (directory / f"{partitioned}.manifest.json").write_text("{}")
    (directory / partitioned).mkdir()
    (directory / partitioned / "part-00000.parquet").write_bytes(b"PAR1")
    foreign = directory / "README.txt"  # not a dataset's: not the sweep's to remove
    foreign.write_text("an operator's note")
    with TestClient(create_app(settings)) as client:
        assert not dense_orphan.exists()
        assert not (directory / f"{partitioned}.manifest.json").exists()
        assert not (directory / partitioned).exists()
        assert known.exists() and foreign.exists()
        assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 200
