"""End to end on the real server: a prediction of millions of JSON rows leaves /healthz answering.

The body was parsed by pydantic on the event loop and the answer built as Python lists there: a
120 MB body of 3 million rows stalled /healthz for 4.6 s and raised the server's peak memory by 1.6 GB.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N_ROWS, FEATURES = 2_000_000, ["x0", "x1", "x2", "x3"]
BODY_LIMIT = 256 * 1024 * 1024


@pytest.fixture
def roomy_server(tmp_path: Path) -> Iterator[Server]:
    """A server that accepts a JSON body of this size (SPARSEFIT_MAX_JSON_BYTES is 32 MB by default)."""
    limits = {"SPARSEFIT_MAX_BODY_BYTES": str(BODY_LIMIT), "SPARSEFIT_MAX_JSON_BYTES": str(BODY_LIMIT)}
    instance = Server(tmp_path / "data", env=limits)
    try:
        instance.start()
        yield instance
    finally:
        instance.cleanup()


def memory_bytes(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure: VmRSS (resident now) or VmHWM (its peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1]) * 1024


def settled_rss_bytes(pid: int, below: int, timeout: float = 5.0) -> int:
    """The server's RSS once it is under ``below`` or ``timeout`` has passed (it trims after answering)."""
    deadline = time.monotonic() + timeout
    while (rss := memory_bytes(pid, "VmRSS")) >= below and time.monotonic() < deadline:
        time.sleep(0.1)
    return rss


def fitted_model(server: Server) -> dict[str, object]:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, len(FEATURES)))
    y = X @ np.arange(1.0, len(FEATURES) + 1) + rng.standard_normal(300)
    out = io.StringIO()
    header = ",".join([*FEATURES, "y"])
    np.savetxt(out, np.column_stack([X, y]), fmt="%.17g", delimiter=",", header=header, comments="")
    csv = out.getvalue().encode()
    dataset = httpx.post(f"{server.base}/v1/datasets", content=csv, headers={"Content-Type": "text/csv"})
    assert dataset.status_code == 201, dataset.text
    job = httpx.post(
        f"{server.base}/v1/jobs", json={"dataset_id": dataset.json()["id"], "target": "y", "cv": None}
    )
    assert job.status_code == 202, job.text
    done = httpx.get(f"{server.base}/v1/jobs/{job.json()['id']}?wait=60", timeout=70).json()
    assert done["status"] == "succeeded", done
    model = httpx.get(f"{server.base}/v1/models/{done['model_id']}").json()
    return dict(model)


def predict_probing_healthz(server: Server, model_id: str, body: bytes) -> tuple[httpx.Response, list[float]]:
    """POST the prediction while another thread asks /healthz every 20 ms; the answer and their latencies."""
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        answer = httpx.post(
            f"{server.base}/v1/models/{model_id}/predictions",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=300,
        )
    finally:
        done.set()
        prober.join()
    return answer, latencies


def test_millions_of_json_rows_are_predicted_while_healthz_answers(roomy_server: Server) -> None:
    model = fitted_model(roomy_server)
    # Six decimals, as a client writes measurements: 79 MB of JSON.
    rows = np.round(np.random.default_rng(4).standard_normal((N_ROWS, len(FEATURES))), 6)
    body = orjson.dumps({"columns": FEATURES, "data": rows}, option=orjson.OPT_SERIALIZE_NUMPY)
    assert roomy_server.process is not None
    pid = roomy_server.process.pid
    rss_before, peak_before = memory_bytes(pid, "VmRSS"), memory_bytes(pid, "VmHWM")
    answer, latencies = predict_probing_healthz(roomy_server, str(model["id"]), body)
    assert answer.status_code == 200, answer.text[:500]
    coefficients = np.array([c["value"] for c in model["coefficients"]])  # type: ignore[attr-defined]
    expected = rows @ coefficients + model["intercept"]
    document = orjson.loads(answer.content)
    np.testing.assert_allclose(document["predictions"], expected, rtol=1e-9, atol=1e-9)
    assert document["probabilities"] is None and document["classes"] is None
    # Before: the loop stalled for seconds (4.6 s at 3 million rows) while pydantic read the body.
    assert len(latencies) > 10 and max(latencies) < 1.0, sorted(latencies)[-5:]
    # Before: the peak grew by 13x the body (1.6 GB for 119 MB); chunked reading keeps it near 2-3x.
    grown = memory_bytes(pid, "VmHWM") - peak_before
    assert grown < 6 * len(body), (grown, len(body))
    # Without the trim, what the request freed stayed with the process (+71 MB); now it is given back.
    kept = settled_rss_bytes(pid, below=rss_before + len(body) // 4) - rss_before
    assert kept < len(body) // 4, (kept, len(body))


def test_too_many_json_rows_is_a_413_naming_the_limit(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", env={"SPARSEFIT_MAX_ROWS": "1000"})
    try:
        server.start()
        model = fitted_model(server)
        body = {"columns": FEATURES, "data": [[0.5, 1, 2, 3]] * 1001}
        answer = httpx.post(f"{server.base}/v1/models/{model['id']}/predictions", json=body, timeout=60)
        assert answer.status_code == 413, answer.text
        problem = answer.json()
        assert problem["type"] == "/problems/table-too-large" and problem["limit"] == "max_rows"
        assert problem["maximum"] == 1000
    finally:
        server.cleanup()


def test_millions_of_csr_rows_are_predicted_while_healthz_answers(roomy_server: Server) -> None:
    model = fitted_model(roomy_server)
    n = 3 * N_ROWS // 2  # two values a row: x0 and x2
    values = np.round(np.random.default_rng(5).standard_normal((n, 2)), 3)
    sparse = {
        "shape": [n, len(FEATURES)],
        "indptr": np.arange(0, 2 * n + 1, 2),
        "indices": np.tile([0, 2], n),
    }
    body = orjson.dumps(
        {"columns": FEATURES, "sparse": {**sparse, "data": values.ravel()}}, option=orjson.OPT_SERIALIZE_NUMPY
    )
    answer, latencies = predict_probing_healthz(roomy_server, str(model["id"]), body)
    assert answer.status_code == 200, answer.text[:500]
    coefficients = np.array([c["value"] for c in model["coefficients"]])  # type: ignore[attr-defined]
    expected = values @ coefficients[[0, 2]] + model["intercept"]
    np.testing.assert_allclose(orjson.loads(answer.content)["predictions"], expected, rtol=1e-9, atol=1e-9)
    # Before: pydantic read the arrays in one call, holding the GIL (0.5 s for a 24 MB body).
    assert len(latencies) > 10 and max(latencies) < 1.0, sorted(latencies)[-5:]
