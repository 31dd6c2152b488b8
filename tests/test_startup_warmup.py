"""The worker pool warms up in the background: /healthz answers at once, /readyz says "starting"."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.jobs.pool import WorkerPool
from tests.conftest import run_job, upload


def test_readyz_is_503_starting_until_the_pool_is_up_and_jobs_wait_for_it(
    settings: Settings, diabetes_csv: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    original = WorkerPool.start

    def held_start(self: WorkerPool) -> None:
        # The real start, once the test lets it: until then the pool is as it is while warming up.
        self.starting = True
        release.wait(timeout=60)
        original(self)

    monkeypatch.setattr(WorkerPool, "start", held_start)
    background = settings.model_copy(update={"warm_up_before_serving": False})
    with TestClient(create_app(background)) as client:
        try:
            assert client.get("/healthz").status_code == 200
            starting = client.get("/readyz")
            assert starting.status_code == 503, starting.text
            assert starting.json()["checks"]["workers"].startswith("starting")
            assert starting.json()["checks"]["store"] == "ok"
            dataset = upload(client, diabetes_csv)
            queued = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "cv": None})
            assert queued.status_code == 202, queued.text
            assert client.get(f"/v1/jobs/{queued.json()['id']}").json()["status"] == "queued"
        finally:
            release.set()
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.05)
        finished = client.get(f"/v1/jobs/{queued.json()['id']}?wait=60").json()
        assert finished["status"] == "succeeded", finished
        again = run_job(client, {"dataset_id": dataset["id"], "target": "y", "alpha": 1.0})
        assert again["status"] == "succeeded", again
