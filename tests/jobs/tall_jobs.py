"""Partitioned Parquet tables written part by part, and fit jobs on them run through a JobManager."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from service.data.design import DesignSpec
from service.data.partitions import Partition, PartitionedTable, read_partition
from service.jobs.executor import Executor
from service.jobs.manager import JobManager
from service.modeling import FitOutcome, FitSpec
from service.store import Catalog, JobRecord, JobStatus, ModelStore, new_id
from service.store.blobs import DatasetStore
from service.worker.artifact import ModelArtifact
from service.worker.kinds.fit import FitTask
from tests.jobs.factories import queued_record

FloatArray = npt.NDArray[np.float64]
SECRET = b"tall-fit-test-secret-0123456789abcdef"
# Parquet row groups of this many rows: a reader decodes a row group at a time, so small groups
# keep a worker's memory small (a 125,000-row group of 51 columns costs ~100 MB to read).
ROW_GROUP_ROWS = 25_000
# Draws one partition's (X, y) from its index: a table generated part by part, never held whole.
Generator = Callable[[int], tuple[FloatArray, FloatArray]]


def write_partitioned(data_dir: Path, n_parts: int, generate: Generator) -> tuple[str, str]:
    """Store the table of ``generate`` as a partitioned dataset; returns its id and manifest sha256."""
    store = DatasetStore(data_dir)
    dataset_id = new_id()
    directory = store.partitions_directory(dataset_id)
    directory.mkdir(parents=True, exist_ok=True)
    partitions, names = [], ()
    for i in range(n_parts):
        X, y = generate(i)
        names = (*(f"x{j}" for j in range(X.shape[1])), "y")
        path = directory / f"part-{i:05d}.parquet"
        columns = [pa.array(X[:, j]) for j in range(X.shape[1])] + [pa.array(y)]
        pq.write_table(pa.Table.from_arrays(columns, names=list(names)), path, row_group_size=ROW_GROUP_ROWS)
        partitions.append(Partition(str(path), int(X.shape[0]), path.stat().st_size))
        del X, y, columns
    manifest = PartitionedTable(tuple(partitions), names).to_json()
    return dataset_id, store.save_manifest(dataset_id, manifest).sha256


def load_whole(data_dir: Path, dataset_id: str, sha256: str) -> tuple[FloatArray, FloatArray]:
    """The concatenated rows (for the in-memory reference fit), read into one Fortran array."""
    table = PartitionedTable.from_json(DatasetStore(data_dir).read_manifest(dataset_id, sha256))
    features = [c for c in table.columns if c != "y"]
    X = np.empty((table.n_rows, len(features)), order="F")
    y = np.empty(table.n_rows)
    for partition, start in zip(table.partitions, table.offsets()[:-1].tolist(), strict=True):
        block = read_partition(partition, [*features, "y"])
        X[start : start + partition.n_rows] = block[:, :-1]
        y[start : start + partition.n_rows] = block[:, -1]
    return X, y


def fit_task(data_dir: Path, dataset_id: str, sha256: str, fit: FitSpec) -> FitTask:
    return FitTask(
        job_id=new_id(),
        model_id=new_id(),
        data_dir=data_dir,
        dataset_id=dataset_id,
        dataset_sha256=sha256,
        design=DesignSpec(target="y", features=None, family=str(fit.family)),
        fit=fit,
        penalty="lasso",
        artifact_secret=SECRET,
        timeout_s=3600.0,
    )


async def run_fit_job(pool: Executor, task: FitTask, timeout_s: float) -> tuple[JobRecord, FitOutcome | None]:
    """Submit ``task`` to a JobManager on ``pool``, wait for its end, and load the model it saved."""
    catalog = Catalog(task.data_dir / "catalog.sqlite3")
    manager = JobManager(catalog, pool, max_queued=5)
    await manager.start()
    try:
        await manager.submit(queued_record(task.job_id, task.dataset_id, task.tenant), task)
        job = await manager.wait(task.job_id, task.tenant, timeout_s)
        if job.status != JobStatus.SUCCEEDED:
            return job, None
        model = catalog.get_model(task.model_id, task.tenant)
        artifact = ModelStore(task.data_dir, secret=SECRET).load(
            task.model_id, model.sha256, tenant=task.tenant
        )
        assert isinstance(artifact, ModelArtifact)
        assert artifact.encoder.design_columns == [f"x{j}" for j in range(artifact.outcome.coef.shape[0])]
        return job, artifact.outcome
    finally:
        await manager.stop()
        catalog.close()
