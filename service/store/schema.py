"""The catalog's SQLite schema and the mapping between table rows and records."""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from typing import Any

import orjson

from service.store.records import DatasetRecord, JobRecord, JobStatus, ModelRecord, ModelText, SelectionRecord

# Version 3 added the idempotency_keys table, version 4 the selections table and jobs.selection_id,
# version 5 datasets.partitions and datasets.source (partitioned Parquet datasets, issue 14).
# SCHEMA runs on every open and creates only what is missing, so an older catalog gains the tables
# (empty) the first time it is opened, and ADDED_COLUMNS its new columns.
SCHEMA_VERSION = 5

# Column names equal the record field names, so rows and records map one to one. No foreign keys:
# a deleted dataset may still be named by jobs and models, which carry all they need.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT 'default',
    name TEXT,
    n_rows INTEGER NOT NULL,
    n_columns INTEGER NOT NULL,
    columns TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    storage TEXT NOT NULL DEFAULT 'dense',
    density REAL,
    partitions INTEGER,
    source TEXT
);
CREATE INDEX IF NOT EXISTS datasets_tenant_created ON datasets (tenant, created_at);

CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT 'default',
    kind TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    progress_fraction REAL NOT NULL,
    progress_stage TEXT NOT NULL,
    progress_message TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    model_id TEXT,
    error TEXT,
    request TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    selection_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_tenant_created ON jobs (tenant, created_at);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);

CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT 'default',
    name TEXT,
    job_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS models_tenant_created ON models (tenant, created_at);

CREATE TABLE IF NOT EXISTS selections (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT 'default',
    kind TEXT NOT NULL,
    job_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS selections_tenant_created ON selections (tenant, created_at);

-- Answers of POST requests sent with an Idempotency-Key, replayed to a retry (service.store.idempotency).
-- status is NULL while the first request is still running. Kept a day: swept by created_at.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    headers TEXT,
    body BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);

-- Written to and rolled back by the readiness check.
CREATE TABLE IF NOT EXISTS readiness_probe (id INTEGER PRIMARY KEY, checked_at TEXT NOT NULL);

PRAGMA user_version = {SCHEMA_VERSION};
"""

# Columns that later versions added to earlier tables: a catalog made before gains them when opened,
# its rows taking the default (a dataset stored before then is dense, its density unknown, and it
# has no partitions or source).
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("datasets", "storage", "TEXT NOT NULL DEFAULT 'dense'"),
    ("datasets", "density", "REAL"),
    ("jobs", "selection_id", "TEXT"),
    ("datasets", "partitions", "INTEGER"),
    ("datasets", "source", "TEXT"),
)


def upgrade_sql(existing: dict[str, set[str]]) -> str:
    """ALTER statements adding :data:`ADDED_COLUMNS` to tables that exist (``existing`` maps each to
    its column names) without them; a table made fresh by :data:`SCHEMA` has them already."""
    return "".join(
        f"ALTER TABLE {table} ADD COLUMN {column} {definition};"
        for table, column, definition in ADDED_COLUMNS
        if existing.get(table) and column not in existing[table]
    )


Record = DatasetRecord | JobRecord | ModelRecord | SelectionRecord

_JSON_FIELDS: dict[type[Record], tuple[str, ...]] = {
    DatasetRecord: ("columns",),
    JobRecord: ("error", "request"),
    ModelRecord: ("summary",),
    SelectionRecord: ("summary",),
}


TABLES: dict[type[Record], str] = {
    DatasetRecord: "datasets",
    JobRecord: "jobs",
    ModelRecord: "models",
    SelectionRecord: "selections",
}


def column_list(record_type: type[Record]) -> str:
    """The SELECT list for a table, in record field order."""
    return ", ".join(field.name for field in fields(record_type))


def insert_sql(record_type: type[Record]) -> str:
    """An INSERT with one named parameter per record field."""
    table = TABLES[record_type]
    names = [field.name for field in fields(record_type)]
    placeholders = ", ".join(f":{name}" for name in names)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})"


def to_json(value: Any) -> str | None:
    """JSON text for a TEXT column; None stays SQL NULL rather than the string "null".

    orjson, not json: a wide model's summary (20,000 coefficients) encodes in 5 ms instead of 50.
    It writes a non-finite float as null where json wrote a bare NaN that is not JSON; every value
    stored is finite or None already (the summaries map non-finite metrics to None).
    """
    return None if value is None else orjson.dumps(value).decode()


def to_row(record: Record) -> dict[str, Any]:
    """The record as named SQL parameters, JSON-ish fields encoded as text."""
    # Field by field, not dataclasses.asdict: that deep-copies every nested dict and list first, and
    # for a model of 20,000 coefficients the copy took 90 ms of a 100 ms catalog write.
    row = {field.name: getattr(record, field.name) for field in fields(record)}
    for name in _JSON_FIELDS[type(record)]:
        row[name] = to_json(row[name])
    if isinstance(record, JobRecord):
        row["status"] = JobStatus(record.status).value
    return row


def _decoded(row: sqlite3.Row, record_type: type[Record]) -> dict[str, Any]:
    values = dict(zip(row.keys(), tuple(row), strict=True))
    for name in _JSON_FIELDS[record_type]:
        if values[name] is not None:
            values[name] = orjson.loads(values[name])
    return values


def dataset_from_row(row: sqlite3.Row) -> DatasetRecord:
    return DatasetRecord(**_decoded(row, DatasetRecord))


def job_from_row(row: sqlite3.Row) -> JobRecord:
    values = _decoded(row, JobRecord)
    values["status"] = JobStatus(values["status"])
    return JobRecord(**values)


def model_from_row(row: sqlite3.Row) -> ModelRecord:
    return ModelRecord(**_decoded(row, ModelRecord))


def selection_from_row(row: sqlite3.Row) -> SelectionRecord:
    return SelectionRecord(**_decoded(row, SelectionRecord))


def model_text_from_row(row: sqlite3.Row) -> ModelText:
    """The row as a :class:`ModelText`: the summary is left as its stored JSON text."""
    return ModelText(
        id=row["id"],
        name=row["name"],
        job_id=row["job_id"],
        dataset_id=row["dataset_id"],
        created_at=row["created_at"],
        summary=row["summary"],
    )
