"""The in-memory table every upload becomes: named, typed, immutable columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import ValidationError

# Column names come from users; messages and problem members show at most this much of one.
_MAX_NAME_CHARS = 64


class ColumnKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


def short(name: str) -> str:
    """``name`` cut to a length fit for an error message (user input is never echoed in bulk)."""
    return name if len(name) <= _MAX_NAME_CHARS else name[: _MAX_NAME_CHARS - 1] + "…"


def quote(name: str) -> str:
    """``name`` quoted and shortened for a human-readable ``detail``."""
    return repr(short(name))


def first_row(mask: NDArray[np.bool_]) -> int:
    """The 1-based data row (header excluded) of the first True in ``mask``."""
    return int(np.argmax(mask)) + 1


def is_none(values: NDArray[Any]) -> NDArray[np.bool_]:
    """True where an object array holds None (a missing categorical value)."""
    mask: NDArray[np.bool_] = np.equal(values, np.array(None, dtype=object))
    return mask


def frozen(values: NDArray[Any]) -> NDArray[Any]:
    # Columns are shared between the table, the design and the caches of other layers: a read-only
    # array turns an accidental in-place edit into an error instead of silently corrupted data.
    values.flags.writeable = False
    return values


@dataclass(frozen=True, eq=False)
class Column:
    """One column: float64 with NaN for missing (numeric) or an object array of str / None.

    ``eq=False`` because element-wise array equality has no single truth value; compare ``values``
    explicitly. Build columns with :meth:`numeric` / :meth:`categorical`, which derive
    ``n_missing`` and ``levels``.
    """

    name: str
    kind: ColumnKind
    values: NDArray[Any]
    n_missing: int
    levels: tuple[str, ...] | None

    def __post_init__(self) -> None:
        expected = np.float64 if self.kind is ColumnKind.NUMERIC else np.object_
        if self.values.ndim != 1 or self.values.dtype != expected:
            raise ValueError(f"column {self.name!r}: {self.kind} values must be a 1-D {expected} array")
        if (self.levels is None) != (self.kind is ColumnKind.NUMERIC):
            raise ValueError(f"column {self.name!r}: levels go with categorical columns only")

    @classmethod
    def numeric(cls, name: str, values: Iterable[float] | NDArray[Any]) -> Column:
        """A numeric column; NaN marks a missing value. The values are copied."""
        array = np.array(values, dtype=np.float64)
        return cls(name, ColumnKind.NUMERIC, frozen(array), int(np.isnan(array).sum()), None)

    @classmethod
    def categorical(cls, name: str, values: Sequence[str | None] | NDArray[np.object_]) -> Column:
        """A categorical column of strings; None marks a missing value. The values are copied."""
        # Filling a preallocated object array keeps numpy from guessing a fixed-width str dtype.
        array = np.empty(len(values), dtype=object)
        array[:] = values
        missing = is_none(array)
        levels = tuple(sorted(set(array[~missing].tolist())))
        return cls(name, ColumnKind.CATEGORICAL, frozen(array), int(missing.sum()), levels)

    def missing_mask(self) -> NDArray[np.bool_]:
        """True where the value is missing."""
        if self.kind is ColumnKind.NUMERIC:
            nan: NDArray[np.bool_] = np.isnan(self.values)
            return nan
        return is_none(self.values)


@dataclass(frozen=True, eq=False)
class Table:
    """Columns of equal length with unique names, in upload order."""

    columns: tuple[Column, ...]
    n_rows: int
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index = {c.name: i for i, c in enumerate(self.columns)}
        if len(index) != len(self.columns):
            raise ValueError("column names must be unique")
        if any(len(c.values) != self.n_rows for c in self.columns):
            raise ValueError(f"every column must have n_rows={self.n_rows} values")
        object.__setattr__(self, "_index", index)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def get(self, name: str) -> Column | None:
        """The column called ``name``, or None."""
        i = self._index.get(name)
        return None if i is None else self.columns[i]

    def column(self, name: str) -> Column:
        """The column called ``name``.

        Raises :class:`ValidationError` when there is none, because names reach a table from
        requests; callers that owe a more specific problem check ``name in table`` first.
        """
        found = self.get(name)
        if found is None:
            raise ValidationError(f"the table has no column named {quote(name)}", column=short(name))
        return found
