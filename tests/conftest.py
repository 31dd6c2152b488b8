"""Shared fixtures: settings on a temporary data dir, a TestClient that runs the lifespan, data files."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from service.app import create_app
from service.config import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def csv_bytes(columns: list[str], rows: np.ndarray | list[list[Any]]) -> bytes:
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    for row in rows:
        out.write(
            ",".join("" if v is None else repr(v) if isinstance(v, float) else str(v) for v in row) + "\n"
        )
    return out.getvalue().encode()


def make_settings(data_dir: Path) -> Settings:
    """The tests' settings: small limits, so that refusing an oversized upload stays cheap."""
    # warm_up_before_serving: a TestClient's first /readyz finds the pool up, as the tests expect
    # (the warm-up in the background is tested on its own, and against a real server).
    return Settings(
        data_dir=data_dir,
        workers=2,
        max_body_bytes=4_000_000,
        cancel_grace_s=0.5,
        max_columns=2000,
        warm_up_before_serving=True,
    )


class Tripwire:
    """Unpickling this touches ``flag``: the proof that a file reached the unpickler."""

    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.flag,))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def diabetes_csv() -> bytes:
    return (EXAMPLES / "diabetes.csv").read_bytes()


@pytest.fixture(scope="session")
def breast_cancer_csv() -> bytes:
    data = load_breast_cancer()
    names = [f"f{j}" for j in range(data.data.shape[1])]
    labels = np.where(data.target == 1, "benign", "malignant")
    rows = [[*map(float, x), label] for x, label in zip(data.data, labels, strict=True)]
    return csv_bytes([*names, "diagnosis"], rows)


@pytest.fixture(scope="session")
def iris_csv() -> bytes:
    data = load_iris()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    rows = [[*map(float, x), data.target_names[t]] for x, t in zip(data.data, data.target, strict=True)]
    return csv_bytes([*names, "species"], rows)


@pytest.fixture(scope="session")
def diabetes_arrays() -> tuple[np.ndarray, np.ndarray]:
    data = load_diabetes(scaled=False)
    return data.data, data.target


def upload(client: TestClient, body: bytes, name: str = "t") -> dict[str, Any]:
    response = client.post(f"/v1/datasets?name={name}", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def run_job(client: TestClient, body: dict[str, Any], wait: float = 60) -> dict[str, Any]:
    """Submit a job and wait until it is finished; returns the final JobRead."""
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    final = client.get(f"/v1/jobs/{job_id}?wait={wait}").json()
    assert final["status"] in ("succeeded", "failed", "canceled"), final
    return dict(final)
