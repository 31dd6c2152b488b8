"""A stored dataset's column schema, indexed once, so that requests are checked in time of their own size."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.data.spec import DesignSpec
from service.data.table import ColumnKind

_KINDS = {kind.value: kind for kind in ColumnKind}
# The key of a column summary that carries its largest magnitude, present only for a column outside
# the engine's band (service.data.magnitudes; a handful in practice): the catalog keeps it, the API
# does not show it.
EXTREME_KEY = "extreme"


@dataclass(frozen=True, eq=False)
class DatasetSchema:
    """What the catalog records of a table's columns (name, kind, n_missing, levels), indexed by name.

    Built once per dataset from its column summaries (``DatasetRead.columns``). The checks of a fit
    request then cost time in the size of the request, not of the table: a name is a dict lookup,
    and with ``features`` defaulted they walk only ``with_missing`` and ``categorical`` (the columns
    with missing values and the categorical ones, in dataset order), which a wide numeric table,
    sparse ones included, has few of. ``n_rows`` is None when the summaries came without it.
    """

    names: tuple[str, ...]
    kinds: tuple[ColumnKind, ...]
    n_missing: tuple[int, ...]
    levels: Mapping[str, tuple[str, ...]]
    with_missing: tuple[str, ...]
    categorical: tuple[str, ...]
    n_rows: int | None
    _positions: Mapping[str, int]
    # Largest magnitude of each column recorded as outside the engine's band (usually empty).
    extremes: Mapping[str, float]

    @classmethod
    def of(cls, columns: Sequence[Mapping[str, Any]], n_rows: int | None = None) -> DatasetSchema:
        """The schema of the column summaries ``columns``, in their order."""
        names = tuple(str(c["name"]) for c in columns)
        # One dict lookup per column, not an enum call: a sparse table has 100,000 columns.
        kinds = tuple(_KINDS[c["kind"]] for c in columns)
        n_missing = tuple(c.get("n_missing") or 0 for c in columns)
        levels = {
            name: tuple(columns[i].get("levels") or ())
            for i, (name, kind) in enumerate(zip(names, kinds, strict=True))
            if kind is ColumnKind.CATEGORICAL
        }
        return cls(
            names=names,
            kinds=kinds,
            n_missing=n_missing,
            levels=levels,
            with_missing=tuple(n for n, m in zip(names, n_missing, strict=True) if m),
            categorical=tuple(levels),
            n_rows=n_rows,
            _positions=dict(zip(names, range(len(names)), strict=True)),
            extremes={str(c["name"]): float(c[EXTREME_KEY]) for c in columns if EXTREME_KEY in c},
        )

    def __contains__(self, name: object) -> bool:
        return name in self._positions

    def kind(self, name: str) -> ColumnKind:
        return self.kinds[self._positions[name]]

    def is_categorical(self, name: str) -> bool:
        return name in self.levels

    def missing(self, name: str) -> int:
        """How many values of column ``name`` are missing."""
        return self.n_missing[self._positions[name]]

    def all_missing(self, name: str) -> bool:
        return self.n_rows is not None and self.missing(name) >= self.n_rows

    def is_feature(self, name: str, spec: DesignSpec) -> bool:
        """Whether ``name`` is one of the features ``spec`` fits, without listing them all."""
        if spec.feature_set is not None:
            return name in spec.feature_set
        return name in self and name not in (spec.target, spec.weights_column, spec.fold_column)

    def has_features(self, spec: DesignSpec) -> bool:
        """Whether ``spec`` leaves any feature (the features' own names are checked elsewhere)."""
        if spec.features is not None:
            return bool(spec.features)
        reserved = {spec.target, spec.weights_column, spec.fold_column}
        return len(self.names) > sum(1 for name in reserved if name in self)

    def features_to_check(
        self, candidates: Sequence[str], spec: DesignSpec
    ) -> Iterator[tuple[int | None, str]]:
        """``(index in spec.features, name)`` of the features a check must look at, dataset columns only.

        With ``features`` given, every one of them in request order (the index points into the
        request); with ``features`` defaulted, only those of ``candidates`` (``with_missing``,
        ``categorical``) that are features, in dataset order, with index None. The caller still
        tests each one: ``candidates`` narrow the walk, they do not decide.
        """
        if spec.features is None:
            yield from ((None, name) for name in candidates if self.is_feature(name, spec))
        else:
            yield from ((i, name) for i, name in enumerate(spec.features) if name in self)
