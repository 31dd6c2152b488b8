"""Size limits on tables and designs: each is a setting, and exceeding one is a problem, not an outage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.data.schema import DatasetSchema
from service.data.spec import DesignSpec
from service.errors import TableTooLargeError, TooManyLevelsError


@dataclass(frozen=True)
class TableLimits:
    """How big one uploaded table may be; the defaults come from Settings."""

    max_rows: int
    max_columns: int
    max_cells: int


def check_table_shape(n_rows: int, n_columns: int, limits: TableLimits, *, cells: int | None = None) -> None:
    """TableTooLargeError (413) naming the limit when a table has too many rows, columns or cells.

    ``cells`` is what the table stores: rows x columns for a dense table (the default), its nonzeros
    for a sparse one, so ``max_cells`` bounds memory and disk either way.
    """
    if n_columns > limits.max_columns:
        raise TableTooLargeError(
            f"The table has {n_columns} columns; at most {limits.max_columns} are accepted.",
            limit="max_columns",
            maximum=limits.max_columns,
            got=n_columns,
        )
    if n_rows > limits.max_rows:
        raise TableTooLargeError(
            f"The table has {n_rows} rows; at most {limits.max_rows} are accepted.",
            limit="max_rows",
            maximum=limits.max_rows,
            got=n_rows,
        )
    stored = n_rows * n_columns if cells is None else cells
    if stored > limits.max_cells:
        what = f"{n_rows} x {n_columns} = {stored} cells" if cells is None else f"{stored} nonzero cells"
        raise TableTooLargeError(
            f"The table has {what}; at most {limits.max_cells} are accepted.",
            limit="max_cells",
            maximum=limits.max_cells,
            got=stored,
        )


def check_feature_levels(
    columns: Sequence[Mapping[str, Any]] | DatasetSchema, spec: DesignSpec, max_levels: int
) -> None:
    """TooManyLevelsError (422) naming the first categorical feature with more than ``max_levels`` levels.

    Each level becomes a design column, so an id-like string column used as a feature would blow up
    the design; the dataset itself may keep such a column as long as no fit uses it.
    """
    schema = columns if isinstance(columns, DatasetSchema) else DatasetSchema.of(columns)
    for index, name in schema.features_to_check(schema.categorical, spec):
        levels = schema.levels.get(name)
        if levels is not None and len(levels) > max_levels:
            # With `features` defaulted there is no list in the request to point into.
            loc: list[str | int] = ["body", "features"] if index is None else ["body", "features", index]
            raise TooManyLevelsError(
                f"Feature {name!r} has {len(levels)} levels; at most {max_levels} are accepted "
                "(leave it out of `features`, or raise SPARSEFIT_MAX_LEVELS).",
                column=name,
                maximum=max_levels,
                got=len(levels),
                errors=[{"loc": loc, "msg": "too many levels", "type": "limit"}],
            )
