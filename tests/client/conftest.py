"""One real server for the client tests, with an API key, and the model most of them read."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
import sparsefit
from sklearn.datasets import load_diabetes

from tests.e2e.conftest import Server

KEY = "client-test-key-0123456789"
TENANT = "clients"


def export_route_exists(service: Server) -> bool:
    """Whether the server has GET /v1/models/{id}/export, which issue 12 adds alongside the client."""
    paths = httpx.get(service.base + "/openapi.json", timeout=30).json()["paths"]
    return "/v1/models/{model_id}/export" in paths


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server every client test talks to; every /v1 request needs the key."""
    env = {"SPARSEFIT_API_KEYS": f"{TENANT}:{KEY}", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    instance = Server(tmp_path_factory.mktemp("client") / "data", env=env)
    try:
        instance.start()
        yield instance
    finally:
        instance.cleanup()


@pytest.fixture(scope="session")
def sf(service: Server) -> Iterator[sparsefit.Client]:
    with sparsefit.Client(service.base, api_key=KEY) as client:
        yield client


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    return frame


@pytest.fixture(scope="session")
def diabetes_model(sf: sparsefit.Client, diabetes: pd.DataFrame) -> sparsefit.Model:
    """A 5-fold cross-validated lasso of diabetes' `target`, fitted through the client from a frame."""
    return sf.fit(diabetes, target="target", name="diabetes lasso", penalty="lasso", cv=5)
