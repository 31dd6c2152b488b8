"""A tall fit's local mapreduce: partitions read in row batches give the same model, bad data is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.data.partitions import PartitionedTable
from service.errors import InvalidDataError, JobCanceledError
from service.modeling import CVSpec, Family, FitSpec, PathSpec, fit_model
from service.modeling.tall import fit_tall
from service.store.blobs import DatasetStore
from service.worker.tall_mapreduce import BlockReader, Heartbeat, LocalMapReduce
from tests.jobs.tall_jobs import load_whole, write_partitioned
from tests.modeling.tall_parts import assert_same_outcome

FIT = FitSpec(
    family=Family.GAUSSIAN,
    l1_ratio=0.5,
    alpha=None,
    path=PathSpec(n_alphas=30),
    cv=CVSpec(n_folds=3),
    tol=1e-8,
)


def _table(tmp_path: Path, weights: bool = False) -> tuple[Path, str, str, PartitionedTable]:
    def generate(i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(i)
        X = rng.standard_normal((700 + 300 * i, 4))
        if weights:
            X[:, 3] = rng.uniform(0.0, 2.0, X.shape[0])  # the last column serves as weights
        return X, X[:, 0] - 2.0 * X[:, 1] + rng.standard_normal(X.shape[0])

    data_dir = tmp_path / "data"
    dataset_id, sha256 = write_partitioned(data_dir, 3, generate)
    table = PartitionedTable.from_json(DatasetStore(data_dir).read_manifest(dataset_id, sha256))
    return data_dir, dataset_id, sha256, table


def _fit(table: PartitionedTable, reader: BlockReader, seen: list[str]) -> object:
    heartbeat = Heartbeat(lambda fraction, stage: seen.append(stage))
    mapreduce = LocalMapReduce(table.partitions, reader, heartbeat)
    return fit_tall(FIT, [p.n_rows for p in table.partitions], mapreduce, checkpoint=heartbeat)


def test_tall_local_batches_give_the_in_memory_model(tmp_path: Path) -> None:
    data_dir, dataset_id, sha256, table = _table(tmp_path)
    X, y = load_whole(data_dir, dataset_id, sha256)
    features = ("x0", "x1", "x2", "x3")
    seen: list[str] = []
    batched = _fit(table, BlockReader(features, "y", batch_rows=128), seen)
    whole = _fit(table, BlockReader(features, "y", batch_rows=10_000), [])
    assert_same_outcome(fit_model(X, y, FIT), batched, 1e-8)  # type: ignore[arg-type]
    assert_same_outcome(whole, batched, 1e-11)  # type: ignore[arg-type]
    assert {"moments", "path", "cv", "scoring"} <= set(seen)  # the checkpoint ran between batches too


def test_tall_local_weights_column_and_negative_weight_named(tmp_path: Path) -> None:
    data_dir, dataset_id, sha256, table = _table(tmp_path, weights=True)
    X, y = load_whole(data_dir, dataset_id, sha256)
    reader = BlockReader(("x0", "x1", "x2"), "y", weights="x3", batch_rows=256)
    expected = fit_model(np.asfortranarray(X[:, :3]), y, FIT, sample_weight=X[:, 3])
    assert_same_outcome(expected, _fit(table, reader, []), 1e-8)  # type: ignore[arg-type]
    with pytest.raises(InvalidDataError) as raised:
        _fit(table, BlockReader(("x0", "x2"), "y", weights="x1", batch_rows=256), [])
    assert raised.value.extensions["column"] == "x1"


def test_tall_local_cancel_stops_between_partitions(tmp_path: Path) -> None:
    _, _, _, table = _table(tmp_path)
    beats: list[str] = []

    def checkpoint(fraction: float, stage: str) -> None:
        beats.append(stage)
        if len(beats) == 3:  # the start, then after the first two partitions of the moment pass
            raise JobCanceledError("The job was canceled.")

    heartbeat = Heartbeat(checkpoint)
    mapreduce = LocalMapReduce(table.partitions, BlockReader(("x0", "x1", "x2", "x3"), "y"), heartbeat)
    with pytest.raises(JobCanceledError):
        fit_tall(FIT, [p.n_rows for p in table.partitions], mapreduce, checkpoint=heartbeat)
    assert beats == ["moments", "moments", "moments"]
