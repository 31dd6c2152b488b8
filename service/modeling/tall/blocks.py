"""What a tall fit maps over: parts (a partition's place and fold ids) and their rows as blocks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Protocol, TypeVar

import numpy as np

from service.modeling.specs import FloatArray, IntArray


@dataclass(frozen=True, eq=False)
class Part:
    """One partition as the fit sees it: the caller's ``index`` for it, the global index of its
    first row, its row count, and the CV fold of each of its rows (None without CV)."""

    index: int
    start: int
    n_rows: int
    folds: IntArray | None = None


@dataclass(frozen=True, eq=False)
class Block:
    """The rows of one part: design ``X`` (rows, p), target ``y`` and weights ``w`` (None: all 1)."""

    X: FloatArray
    y: FloatArray
    w: FloatArray | None = None

    def weights(self) -> FloatArray:
        return np.ones(self.y.shape[0]) if self.w is None else self.w


class Summable(Protocol):
    def __add__(self: S, other: S, /) -> S: ...


S = TypeVar("S", bound=Summable)


class MapReduce(Protocol):
    """``mapreduce(fn, parts)``: ``fn(part, block)`` on every part's rows, reduced with ``+`` in
    any order. It may raise (a canceled job, unreadable data); the fit lets that propagate."""

    def __call__(self, fn: Callable[[Part, Block], S], parts: Sequence[Part], /) -> S: ...


def make_parts(row_counts: Sequence[int], fold_ids: IntArray | None) -> list[Part]:
    """One Part per partition with rows (row counts in row order), each with its slice of
    ``fold_ids``; an empty partition has nothing to map."""
    offsets = np.concatenate([[0], np.cumsum(np.asarray(row_counts, dtype=np.int64))]).astype(np.int64)
    return [
        Part(
            index=i,
            start=int(offsets[i]),
            n_rows=int(row_counts[i]),
            # A view: pickled for a Dask task, only its own rows travel.
            folds=None if fold_ids is None else fold_ids[offsets[i] : offsets[i + 1]],
        )
        for i in range(len(row_counts))
        if row_counts[i] > 0
    ]


def sequential_mapreduce(load: Callable[[int], Block]) -> MapReduce:
    """The simplest mapreduce: load each part's block in turn (one block in memory at a time)."""

    def run(fn: Callable[[Part, Block], S], parts: Sequence[Part]) -> S:
        return reduce(lambda acc, r: acc + r, (fn(part, load(part.index)) for part in parts))

    return run
