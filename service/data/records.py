"""pandas' ``orient="records"`` JSON (a list of objects, one a row) as columns and rows."""

from __future__ import annotations

from typing import Any

from service.errors import InvalidDatasetError


def records_to_split(records: object) -> tuple[list[str], list[list[Any]]]:
    """The column names and the rows of ``[{"a": 1, "b": "x"}, ...]``.

    Columns come in the order their names first appear; a row without a column's key has a missing
    value there (null), as ``pandas.read_json(orient="records")`` reads it. The values are then
    those of ``columns`` + ``data`` (see :func:`service.data.parsing.parse_split_json`).
    """
    if not isinstance(records, list):
        raise InvalidDatasetError("a JSON table is an object (columns and data) or a list of row objects")
    if not records:
        raise InvalidDatasetError("the JSON list has no rows")
    names: dict[str, None] = {}
    for row, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InvalidDatasetError(
                f"row {row} of the JSON list is not an object of column names and values", row=row
            )
        names.update(dict.fromkeys(record))
    columns = list(names)
    if all(len(record) == len(columns) for record in records):
        # Every row has every key: only the order may differ from the first row's.
        return columns, [[record[name] for name in columns] for record in records]
    return columns, [[record.get(name) for name in columns] for record in records]
