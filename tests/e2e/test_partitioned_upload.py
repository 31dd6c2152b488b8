"""End to end: a CSV of about 300 MB streamed into partitions holds the server's memory far below its size."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.data.partitions import PartitionedTable, read_partition
from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BLOCK_ROWS, BLOCKS = 100_000, 28  # 2.8 million rows of 10 columns: about 300 MB of CSV
COLUMNS = [f"x{j}" for j in range(9)] + ["y"]
PARTITION_ROWS = 1_000_000
CHUNK = 1 << 20


def memory_bytes(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure: VmRSS (resident now) or VmHWM (its peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1]) * 1024


def write_csv(path: Path) -> np.ndarray:
    """The CSV: one block of rows written BLOCKS times; returns the block."""
    block = np.round(np.random.default_rng(7).standard_normal((BLOCK_ROWS, len(COLUMNS))), 6)
    text = io.StringIO()
    np.savetxt(text, block, fmt="%.6f", delimiter=",")
    data = text.getvalue().encode()
    with path.open("wb") as file:
        file.write((",".join(COLUMNS) + "\n").encode())
        for _ in range(BLOCKS):
            file.write(data)
    return block


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    instance = Server(tmp_path / "data", env={"SPARSEFIT_PARTITION_ROWS": str(PARTITION_ROWS)})
    try:
        instance.start()
        yield instance
    finally:
        instance.cleanup()


def test_a_300_mb_csv_streams_into_partitions_while_healthz_answers(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "tall.csv"
    block = write_csv(path)
    size = path.stat().st_size
    assert size > 250 * 1024 * 1024
    assert server.process is not None
    pid = server.process.pid
    # A small upload first: the peak below is what the big one adds, not the code it loads once.
    warm = httpx.post(
        f"{server.base}/v1/datasets?storage=partitioned",
        content=path.read_bytes()[:1_000_000].rsplit(b"\n", 1)[0] + b"\n",
        headers={"Content-Type": "text/csv"},
    )
    assert warm.status_code == 201, warm.text
    assert httpx.delete(f"{server.base}/v1/datasets/{warm.json()['id']}").status_code == 204
    peak_before = memory_bytes(pid, "VmHWM")

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length, never the whole file in this process
        with path.open("rb") as file:
            while piece := file.read(CHUNK):
                yield piece

    answers: list[int] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            while not done.is_set():
                answers.append(client.get("/healthz").status_code)
                time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        response = httpx.post(
            f"{server.base}/v1/datasets?storage=partitioned&name=tall",
            content=chunks(),
            headers={"Content-Type": "text/csv"},
            timeout=600,
        )
    finally:
        done.set()
        prober.join()
    assert response.status_code == 201, response.text
    grown = memory_bytes(pid, "VmHWM") - peak_before
    print(f"\npartitioned upload: {size} bytes, server peak grew by {grown} bytes, {len(answers)} /healthz")
    assert grown < size // 5, (grown, size)  # 41 MB for 266 MB when this test was written
    assert len(answers) > 5 and set(answers) == {200}, answers[-5:]

    document = response.json()
    n_rows = BLOCK_ROWS * BLOCKS
    assert (document["storage"], document["n_rows"], document["n_columns"]) == ("partitioned", n_rows, 10)
    assert document["partitions"] == -(-n_rows // PARTITION_ROWS)
    listed = httpx.get(f"{server.base}/v1/datasets").json()["items"]
    assert [(d["id"], d["n_rows"], d["partitions"]) for d in listed] == [(document["id"], n_rows, 3)]
    manifest = server.data_dir / "datasets" / f"{document['id']}.manifest.json"
    table = PartitionedTable.from_json(manifest.read_bytes())
    assert [p.n_rows for p in table.partitions] == [1_000_000, 1_000_000, 800_000]
    last = read_partition(table.partitions[2], table.columns)  # rows 2,000,000 on: the block from its start
    np.testing.assert_array_equal(last[:BLOCK_ROWS], block)
    np.testing.assert_array_equal(last[-BLOCK_ROWS:], block)
    assert not list((server.data_dir / "datasets").glob(".upload.*"))  # the spooled body is gone
