"""The two mapreduces a tall fit runs on: partitions in turn in the job's process, or Dask tasks."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from service.data.partitions import Partition, iter_partition
from service.errors import InvalidDataError
from service.modeling import Checkpoint
from service.modeling.specs import FloatArray
from service.modeling.tall import Block, Part

R = TypeVar("R")
# While a Dask pass runs, the job polls its checkpoint (cancel) this often.
POLL_S = 0.5
# Rows per batch read from a partition: 16,384 rows of 51 columns are 6.7 MB, small beside the
# 250 MB a worker holds once the engine is loaded (issue 14's workers have 500 MB).
BATCH_ROWS = 16_384


@dataclass(frozen=True)
class BlockReader:
    """How a partition becomes Blocks: the design columns, the target and the weights column, read
    in row batches of ``batch_rows`` so that a task holds one batch, never the whole partition."""

    features: tuple[str, ...]
    target: str
    weights: str | None = None
    batch_rows: int = BATCH_ROWS

    def blocks(self, part: Part, partition: Partition) -> Iterator[tuple[Part, Block]]:
        """The part's rows batch by batch, each with the sub-part (first row, fold ids) it covers."""
        names = [*self.features, self.target, *([self.weights] if self.weights else [])]
        p, offset = len(self.features), 0
        for matrix in iter_partition(partition, names, self.batch_rows):
            rows = matrix.shape[0]
            w = None
            if self.weights is not None:
                w = np.ascontiguousarray(matrix[:, p + 1])
                self._check_weights(w, partition, offset)
            folds = None if part.folds is None else part.folds[offset : offset + rows]
            sub = Part(part.index, part.start + offset, rows, folds)
            # A Fortran slice of the first p columns is itself Fortran-contiguous: no copy.
            yield sub, Block(X=matrix[:, :p], y=np.ascontiguousarray(matrix[:, p]), w=w)
            offset += rows

    def _check_weights(self, w: FloatArray, partition: Partition, offset: int) -> None:
        if np.any(w < 0):
            row = offset + int(np.flatnonzero(w < 0)[0])
            raise InvalidDataError(
                f"Column '{self.weights}' has a negative weight at row {row} of partition "
                f"{partition.url}: weights must be non-negative.",
                column=self.weights,
            )

    def apply(self, fn: Callable[[Part, Block], R], part: Part, partition: Partition) -> R:
        """``fn`` over the part's batches, reduced with ``+``."""
        total: Any = None
        for sub, block in self.blocks(part, partition):
            result = fn(sub, block)
            total = result if total is None else total + result
        return total  # type: ignore[no-any-return]


class Heartbeat:
    """The job's checkpoint, replayed at its last fraction: polls cancel between partitions."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self._checkpoint = checkpoint
        self.fraction, self.stage = 0.0, "loading"

    def __call__(self, fraction: float, stage: str) -> None:
        self.fraction, self.stage = fraction, stage
        self._checkpoint(fraction, stage)

    def beat(self) -> None:
        self._checkpoint(self.fraction, self.stage)


class LocalMapReduce:
    """Partitions read one at a time in this process: one block plus the reduced sums in memory."""

    def __init__(self, partitions: Sequence[Partition], reader: BlockReader, heartbeat: Heartbeat) -> None:
        self.partitions, self.reader, self.heartbeat = partitions, reader, heartbeat

    def __call__(self, fn: Callable[[Part, Block], R], parts: Sequence[Part]) -> R:
        total: Any = None
        for part in parts:
            result = self.reader.apply(fn, part, self.partitions[part.index])
            total = result if total is None else total + result
            self.heartbeat.beat()
        return total  # type: ignore[no-any-return]


def map_one(fn: Callable[[Part, Block], R], part: Part, partition: Partition, reader: BlockReader) -> R:
    """A Dask task: read one partition on the worker that runs it and apply the map step."""
    return reader.apply(fn, part, partition)


def add(left: Any, right: Any) -> Any:
    """A Dask task of the tree reduce."""
    return left + right


class DaskMapReduce:
    """One Dask task per partition (each reads its own file) and a tree reduce, submitted from a
    job that itself runs on a Dask worker: it secedes while it waits (``worker_client``)."""

    def __init__(self, partitions: Sequence[Partition], reader: BlockReader, heartbeat: Heartbeat) -> None:
        self.partitions, self.reader, self.heartbeat = partitions, reader, heartbeat

    def __call__(self, fn: Callable[[Part, Block], R], parts: Sequence[Part]) -> R:
        from distributed import worker_client

        with worker_client() as client:
            futures = [
                client.submit(map_one, fn, part, self.partitions[part.index], self.reader, pure=False)
                for part in parts
            ]
            while len(futures) > 1:
                pairs = [
                    client.submit(add, a, b, pure=False)
                    for a, b in zip(futures[::2], futures[1::2], strict=False)
                ]
                futures = pairs + futures[len(pairs) * 2 :]
            result: R = self._wait(client, futures[0])
            return result

    def _wait(self, client: Any, future: Any) -> Any:
        try:
            while True:
                try:
                    return future.result(timeout=POLL_S)
                except (TimeoutError, concurrent.futures.TimeoutError):
                    self.heartbeat.beat()  # raises JobCanceledError once the job is canceled
        except BaseException:
            client.cancel([future], force=True)
            raise


def on_dask_worker() -> bool:
    """Whether this job runs as a task on a Dask worker (then its passes are Dask tasks too)."""
    try:
        from distributed import get_worker
    except ImportError:
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True
