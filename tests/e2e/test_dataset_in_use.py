"""End to end: a dataset under a running job cannot be deleted, so the job never loses its file."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_server import SLOW, get_job, post_csv, post_job, wait_running, wide_csv

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_e2e_delete_dataset_under_running_job_is_409_until_it_ends(server: Server) -> None:
    dataset = post_csv(server, wide_csv())
    job = post_job(server, {"dataset_id": dataset["id"], **SLOW})
    wait_running(server, job["id"])
    refused = httpx.delete(f"{server.base}/v1/datasets/{dataset['id']}", timeout=30)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "/problems/dataset-in-use"
    assert refused.json()["job_ids"] == [job["id"]]
    assert httpx.post(f"{server.base}/v1/jobs/{job['id']}/cancel", timeout=30).status_code == 202
    final = get_job(server, job["id"], wait=30)
    # Canceled, not failed with /problems/integrity: its dataset was there all along.
    assert final["status"] == "canceled", final
    assert httpx.delete(f"{server.base}/v1/datasets/{dataset['id']}", timeout=30).status_code == 204
