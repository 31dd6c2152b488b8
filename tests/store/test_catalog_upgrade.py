"""A catalog made by version 1 of the schema opens under version 2: datasets gain storage and density."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from service.store import Catalog, DatasetRecord
from service.store.schema import SCHEMA

MakeDataset = Callable[..., DatasetRecord]

# The datasets table as version 1 made it, before storage and density.
VERSION_1_DATASETS = """
CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT 'default',
    name TEXT,
    n_rows INTEGER NOT NULL,
    n_columns INTEGER NOT NULL,
    columns TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO datasets VALUES ('ab12', 'default', 'old', 3, 1, '[]', 10, 'ff', '2020-01-01T00:00:00.000000Z');
"""


def test_catalog_upgrade_adds_storage_and_density(tmp_path: Path, make_dataset: MakeDataset) -> None:
    path = tmp_path / "catalog.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(VERSION_1_DATASETS + SCHEMA)
    with Catalog(path) as catalog:
        old = catalog.get_dataset("ab12")
        assert (old.storage, old.density, old.name) == ("dense", None, "old")
        new = make_dataset(storage="sparse", density=0.25)
        catalog.insert_dataset(new)
        assert catalog.get_dataset(new.id) == new
    with Catalog(path) as reopened:  # a second opening finds nothing left to add
        assert reopened.get_dataset(new.id) == new


def test_catalog_fresh_datasets_round_trip_storage_and_density(
    tmp_path: Path, make_dataset: MakeDataset
) -> None:
    with Catalog(tmp_path / "catalog.sqlite3") as catalog:
        record = make_dataset(storage="sparse", density=1e-3)
        catalog.insert_dataset(record)
        assert catalog.get_dataset(record.id) == record
