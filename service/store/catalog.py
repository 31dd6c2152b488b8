"""The catalog: datasets, jobs and models in one SQLite database (WAL), safe to share across threads."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from service.errors import DatasetInUseError, JobNotFinishedError, NotFoundError, NotReadyError
from service.store import idempotency
from service.store.idempotency import StoredAnswer
from service.store.records import (
    DEFAULT_TENANT,
    FINISHED,
    UNFINISHED,
    DatasetRecord,
    JobRecord,
    JobStatus,
    ModelRecord,
    ModelText,
    SelectionRecord,
    utc_now,
)
from service.store.schema import (
    SCHEMA,
    TABLES,
    Record,
    column_list,
    dataset_from_row,
    insert_sql,
    job_from_row,
    model_from_row,
    model_text_from_row,
    selection_from_row,
    to_json,
    to_row,
    upgrade_sql,
)
from service.store.space import sqlite_storage_error

# What a row decodes to: its record, or a lighter view of it (ModelText).
T = TypeVar("T")

_UNFINISHED_VALUES = tuple(sorted(status.value for status in UNFINISHED))
_UNFINISHED_SQL = "status IN (?, ?)"
# A dataset-in-use problem names at most this many of the jobs that hold the dataset.
_MAX_LISTED_JOBS = 20


class Catalog:
    """Every dataset, job and model record; ``close()`` it, or use it as a context manager.

    One connection is shared by all threads and serialised by a lock: FastAPI's thread pool, the
    job manager's loop and its helper threads all write here, and SQLite allows one writer anyway.
    The connection runs in autocommit mode so every transaction is an explicit ``BEGIN`` below.
    """

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            self._conn.row_factory = sqlite3.Row
            # WAL lets readers run beside the writer; FULL fsyncs the WAL on every commit, so a write
            # we acknowledged survives a power loss (NORMAL could lose the last commits).
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            existing = {table: self._column_names(table) for table in TABLES.values()}
            self._conn.executescript(f"BEGIN IMMEDIATE;{SCHEMA}{upgrade_sql(existing)}COMMIT;")
        except BaseException:
            self._conn.close()
            raise

    def _column_names(self, table: str) -> set[str]:
        """The columns ``table`` has now; empty when it does not exist yet."""
        return {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        """Close the connection; later calls are no-ops."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a read-then-write cannot fail half-way on a lock
        # held by another process; a plain BEGIN gives reads one consistent snapshot (page + total).
        # A full or read-only disk leaves here as its problem (507 / 503), not as a bare sqlite3 error.
        with self._lock, _storage_problems():
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    # A failed ROLLBACK must not hide the error that made it necessary.
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def check_writable(self) -> None:
        """Readiness: NotReadyError unless the catalog can take a write right now."""
        try:
            with self._lock:
                # BEGIN IMMEDIATE alone succeeds even on a read-only database file; a real write fails.
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute("INSERT INTO readiness_probe (checked_at) VALUES (?)", (utc_now(),))
                finally:
                    self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise NotReadyError("The catalog is not writable.") from exc

    # -- generic operations, shared by the three tables ------------------------------------------

    def _insert(self, record: Record) -> None:
        with self._transaction() as conn:
            conn.execute(insert_sql(type(record)), to_row(record))

    def _get(
        self, record_type: type[Record], decode: Callable[[sqlite3.Row], T], object_id: str, tenant: str
    ) -> T:
        table = TABLES[record_type]
        sql = f"SELECT {column_list(record_type)} FROM {table} WHERE id = ? AND tenant = ?"
        with self._transaction(write=False) as conn:
            row = conn.execute(sql, (object_id, tenant)).fetchone()
        if row is None:
            raise NotFoundError(f"No {table[:-1]} with this id.")
        return decode(row)

    def _list(
        self,
        record_type: type[Record],
        decode: Callable[[sqlite3.Row], T],
        page: tuple[int, int],
        condition: str,
        params: tuple[Any, ...],
        selected: tuple[str, tuple[Any, ...]] | None = None,
    ) -> tuple[list[T], int]:
        """One page; ``selected`` replaces the SELECT list (SQL with its own parameters)."""
        limit, offset = page
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        table = TABLES[record_type]
        select_list, select_params = selected or (column_list(record_type), ())
        # rowid breaks ties between equal timestamps, so pages never overlap or skip a row.
        select = (
            f"SELECT {select_list} FROM {table} WHERE {condition} "
            "ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
        )
        with self._transaction(write=False) as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {condition}", params).fetchone()[0]
            rows = conn.execute(select, (*select_params, *params, limit, offset)).fetchall()
        return [decode(row) for row in rows], int(total)

    def _delete(self, record_type: type[Record], object_id: str, tenant: str) -> None:
        table = TABLES[record_type]
        with self._transaction() as conn:
            deleted = conn.execute(f"DELETE FROM {table} WHERE id = ? AND tenant = ?", (object_id, tenant))
        if deleted.rowcount == 0:
            raise NotFoundError(f"No {table[:-1]} with this id.")

    # -- datasets ---------------------------------------------------------------------------------

    def insert_dataset(self, record: DatasetRecord) -> None:
        self._insert(record)

    def get_dataset(self, dataset_id: str, tenant: str = DEFAULT_TENANT) -> DatasetRecord:
        return self._get(DatasetRecord, dataset_from_row, dataset_id, tenant)

    def check_dataset(self, dataset_id: str, tenant: str = DEFAULT_TENANT) -> None:
        """NotFoundError unless ``tenant`` has this dataset; nothing is decoded.

        Reads only ``id`` and ``tenant``, which a row stores before its column list: a column after
        that list (``sha256``) would make SQLite walk the megabytes a 100,000-column table has there.
        Datasets never change and ids are never reused, so what is derived from one is cached by id.
        """
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT tenant FROM datasets WHERE id = ? AND tenant = ?", (dataset_id, tenant)
            ).fetchone()
        if row is None:
            raise NotFoundError("No dataset with this id.")

    def list_datasets(
        self,
        limit: int = 50,
        offset: int = 0,
        tenant: str = DEFAULT_TENANT,
        columns_shown: int | None = None,
    ) -> tuple[list[DatasetRecord], int]:
        """One page, newest first, and the total count.

        With ``columns_shown``, a record's ``columns`` holds at most the first ``columns_shown + 1``
        summaries (one more than shown says that there are more): SQLite cuts the stored JSON, off
        the GIL, rather than this process decoding every summary of every wide table on the page.
        """
        selected = None if columns_shown is None else _first_columns(columns_shown + 1)
        page = (limit, offset)
        return self._list(DatasetRecord, dataset_from_row, page, "tenant = ?", (tenant,), selected)

    def delete_dataset(self, dataset_id: str, tenant: str = DEFAULT_TENANT) -> None:
        """Remove the row (NotFoundError if absent); finished jobs and models naming it are kept.

        DatasetInUseError while a queued or running job will read the dataset: its file would be gone
        when the job starts. The check and the delete are one transaction, and a job is inserted
        (``insert_job(require_dataset=True)``) only while its dataset exists, in a transaction of its
        own: a job submitted at the same moment either holds the delete off or finds no dataset.

        Delete the row before the file: a crash in between leaves an orphan file, never a row whose
        file is gone.
        """
        with self._transaction() as conn:
            _check_dataset_in(conn, dataset_id, tenant)
            users = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM jobs WHERE dataset_id = ? AND tenant = ? AND {_UNFINISHED_SQL} "
                    "ORDER BY created_at, rowid",
                    (dataset_id, tenant, *_UNFINISHED_VALUES),
                )
            ]
            if users:
                raise DatasetInUseError(
                    f"{len(users)} queued or running job(s) use this dataset, such as {users[0]}; "
                    "cancel them or wait for them to finish.",
                    job_ids=users[:_MAX_LISTED_JOBS],
                    n_jobs=len(users),
                )
            conn.execute("DELETE FROM datasets WHERE id = ? AND tenant = ?", (dataset_id, tenant))

    # -- models -----------------------------------------------------------------------------------

    def insert_model(self, record: ModelRecord) -> None:
        """Insert a model row on its own; a job's model normally arrives through ``finish_job``."""
        self._insert(record)

    def get_model(self, model_id: str, tenant: str = DEFAULT_TENANT) -> ModelRecord:
        return self._get(ModelRecord, model_from_row, model_id, tenant)

    def list_models(
        self, limit: int = 50, offset: int = 0, tenant: str = DEFAULT_TENANT
    ) -> tuple[list[ModelRecord], int]:
        """One page, newest first, and the total count."""
        return self._list(ModelRecord, model_from_row, (limit, offset), "tenant = ?", (tenant,))

    # -- selections (stability, knockoffs, bootstrap) ----------------------------------------------

    def get_selection(self, selection_id: str, tenant: str = DEFAULT_TENANT) -> SelectionRecord:
        return self._get(SelectionRecord, selection_from_row, selection_id, tenant)

    def list_selections(
        self, limit: int = 50, offset: int = 0, tenant: str = DEFAULT_TENANT
    ) -> tuple[list[SelectionRecord], int]:
        """One page, newest first, and the total count."""
        return self._list(SelectionRecord, selection_from_row, (limit, offset), "tenant = ?", (tenant,))

    def delete_selection(self, selection_id: str, tenant: str = DEFAULT_TENANT) -> None:
        self._delete(SelectionRecord, selection_id, tenant)

    def model_sha256(self, model_id: str, tenant: str = DEFAULT_TENANT) -> str:
        """The checksum of a model's file, or NotFoundError; the summary, stored after it, is not read.

        What reads the model file (path, CV, plots, predictions) needs only this: decoding a wide
        model's summary (20,000 coefficients) would cost more than the rest of such a read.
        """
        with self._transaction(write=False) as conn:
            return _model_sha256(conn, model_id, tenant)

    def model_sha256_nowait(self, model_id: str, tenant: str = DEFAULT_TENANT) -> str | None:
        """:meth:`model_sha256`, or None at once when another thread holds the catalog.

        For the event loop: a write may hold the catalog through its commit's fsync, and the loop
        must never wait on that (the caller then asks :meth:`model_sha256` in a thread). A single
        SELECT in autocommit mode is its own consistent read.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            with _storage_problems():
                return _model_sha256(self._conn, model_id, tenant)
        finally:
            self._lock.release()

    def get_model_text(self, model_id: str, tenant: str = DEFAULT_TENANT) -> ModelText:
        """:meth:`get_model` with the summary left as its stored JSON text, for reads that pass it on."""
        return self._get(ModelRecord, model_text_from_row, model_id, tenant)

    def list_models_text(
        self, limit: int = 50, offset: int = 0, tenant: str = DEFAULT_TENANT
    ) -> tuple[list[ModelText], int]:
        """:meth:`list_models` with each summary left as its stored JSON text."""
        return self._list(ModelRecord, model_text_from_row, (limit, offset), "tenant = ?", (tenant,))

    def delete_model(self, model_id: str, tenant: str = DEFAULT_TENANT) -> None:
        """Remove the row (NotFoundError if absent); delete the artifact file after it."""
        self._delete(ModelRecord, model_id, tenant)

    def dataset_ids(self) -> set[str]:
        """Every dataset id of every tenant: the files a start-up sweep must keep."""
        with self._transaction(write=False) as conn:
            return {row[0] for row in conn.execute(f"SELECT id FROM {TABLES[DatasetRecord]}")}

    def model_ids(self) -> set[str]:
        """Every model id of every tenant: the files a start-up sweep must keep."""
        with self._transaction(write=False) as conn:
            return {row[0] for row in conn.execute(f"SELECT id FROM {TABLES[ModelRecord]}")}

    # -- jobs -------------------------------------------------------------------------------------

    def insert_job(self, record: JobRecord, *, require_dataset: bool = False) -> None:
        """Insert a job; with ``require_dataset``, NotFoundError unless its tenant still has its dataset,
        checked in the same transaction (see :meth:`delete_dataset`)."""
        with self._transaction() as conn:
            if require_dataset:
                _check_dataset_in(conn, record.dataset_id, record.tenant)
            conn.execute(insert_sql(JobRecord), to_row(record))

    def get_job(self, job_id: str, tenant: str = DEFAULT_TENANT) -> JobRecord:
        return self._get(JobRecord, job_from_row, job_id, tenant)

    def list_jobs(
        self,
        status: JobStatus | None = None,
        limit: int = 50,
        offset: int = 0,
        tenant: str = DEFAULT_TENANT,
    ) -> tuple[list[JobRecord], int]:
        """One page, newest first, optionally of one status, and the total count."""
        if status is None:
            return self._list(JobRecord, job_from_row, (limit, offset), "tenant = ?", (tenant,))
        params = (tenant, JobStatus(status).value)
        return self._list(JobRecord, job_from_row, (limit, offset), "tenant = ? AND status = ?", params)

    def count_jobs(self, statuses: Iterable[JobStatus], tenant: str | None = None) -> int:
        """How many jobs have one of ``statuses``; across all tenants unless ``tenant`` is given."""
        values = [JobStatus(status).value for status in statuses]
        if not values:
            return 0
        condition = f"status IN ({', '.join('?' * len(values))})"
        params: tuple[str, ...] = tuple(values)
        if tenant is not None:
            condition, params = f"{condition} AND tenant = ?", (*params, tenant)
        with self._transaction(write=False) as conn:
            count = conn.execute(f"SELECT COUNT(*) FROM jobs WHERE {condition}", params).fetchone()[0]
        return int(count)

    def delete_job(self, job_id: str, tenant: str = DEFAULT_TENANT) -> None:
        """Remove a finished job (its model stays); JobNotFinishedError while queued or running."""
        with self._transaction() as conn:
            job = _job_in(conn, job_id, tenant)
            if job.status not in FINISHED:
                raise JobNotFinishedError(f"Job {job_id} is {job.status}; cancel it first.", job_id=job_id)
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def mark_running(self, job_id: str) -> JobRecord:
        """Move a queued job to running and return it; a job in any other state is returned as is."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, started_at = ?, progress_stage = ? WHERE id = ? AND status = ?",
                (JobStatus.RUNNING.value, utc_now(), "running", job_id, JobStatus.QUEUED.value),
            )
            return _job_in(conn, job_id)

    def update_progress(self, job_id: str, fraction: float, stage: str, message: str | None = None) -> bool:
        """Record progress of a queued or running job; return False (and change nothing) otherwise.

        A late report from a worker after the job finished or was deleted is normal, not an error.
        The fraction never goes back: a job's parts report their own fractions (the fit starts from
        0 after loading reported 0.02), and clients see how far the job has come at least.
        """
        if not math.isfinite(fraction):
            raise ValueError("progress fraction must be finite")
        # Estimates from the numerics may overshoot a little; the wire promises a value in [0, 1].
        fraction = min(1.0, max(0.0, fraction))
        with self._transaction() as conn:
            updated = conn.execute(
                "UPDATE jobs SET progress_fraction = max(progress_fraction, ?), "
                "progress_stage = ?, progress_message = ? "
                f"WHERE id = ? AND {_UNFINISHED_SQL}",
                (fraction, stage, message, job_id, *_UNFINISHED_VALUES),
            )
        return updated.rowcount == 1

    def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        *,
        error: dict[str, Any] | None = None,
        model: ModelRecord | None = None,
        selection: SelectionRecord | None = None,
    ) -> JobRecord:
        """End a job in one transaction: insert its model or selection row (if any), set its final state.

        The first finisher wins: a job already finished is returned unchanged and ``model`` is not
        inserted, so the caller should delete that model's artifact when the returned record does
        not carry its id.
        """
        _check_finish(job_id, status, model)
        _check_finish(job_id, status, selection)
        with self._transaction() as conn:
            job = _job_in(conn, job_id)
            if job.status in FINISHED:
                return job
            if model is not None:
                conn.execute(insert_sql(ModelRecord), to_row(model))
            if selection is not None:
                conn.execute(insert_sql(SelectionRecord), to_row(selection))
            conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, model_id = ?, selection_id = ?, error = ?, "
                "progress_stage = ?, progress_fraction = CASE WHEN ? THEN 1.0 ELSE progress_fraction END "
                "WHERE id = ?",
                (
                    status.value,
                    utc_now(),
                    model.id if model is not None else None,
                    selection.id if selection is not None else None,
                    to_json(error),
                    status.value,
                    status is JobStatus.SUCCEEDED,
                    job_id,
                ),
            )
            return _job_in(conn, job_id)

    def interrupt_unfinished(self, error: dict[str, Any]) -> list[str]:
        """At start-up after a crash: fail every queued or running job with ``error``; return their ids."""
        failed = JobStatus.FAILED.value
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT id FROM jobs WHERE {_UNFINISHED_SQL} ORDER BY created_at, rowid", _UNFINISHED_VALUES
            ).fetchall()
            conn.execute(
                f"UPDATE jobs SET status = ?, finished_at = ?, error = ?, progress_stage = ? "
                f"WHERE {_UNFINISHED_SQL}",
                (failed, utc_now(), to_json(error), failed, *_UNFINISHED_VALUES),
            )
        return [row[0] for row in rows]

    # -- idempotency keys (service.store.idempotency) ----------------------------------------------

    def claim_idempotency_key(
        self, tenant: str, key: str, fingerprint: str, now: datetime | None = None
    ) -> StoredAnswer | None:
        """None when the request may run (``key`` is held for it), else the answer to replay."""
        with self._transaction() as conn:
            return idempotency.claim(conn, tenant, key, fingerprint, now or datetime.now(UTC))

    def record_idempotent_answer(self, tenant: str, key: str, answer: StoredAnswer) -> None:
        with self._transaction() as conn:
            idempotency.record(conn, tenant, key, answer)

    def release_idempotency_key(self, tenant: str, key: str) -> None:
        with self._transaction() as conn:
            idempotency.release(conn, tenant, key)

    def sweep_idempotency_keys(self, now: datetime | None = None) -> int:
        """At start-up: drop expired keys and those a previous process left in flight."""
        with self._transaction() as conn:
            return idempotency.sweep(conn, now or datetime.now(UTC))


@contextmanager
def _storage_problems() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        mapped = sqlite_storage_error(error)
        if mapped is None:
            raise
        raise mapped from error


def _check_dataset_in(conn: sqlite3.Connection, dataset_id: str, tenant: str) -> None:
    """Inside an open transaction: NotFoundError unless ``tenant`` has this dataset."""
    found = conn.execute("SELECT 1 FROM datasets WHERE id = ? AND tenant = ?", (dataset_id, tenant))
    if found.fetchone() is None:
        raise NotFoundError("No dataset with this id.")


def _job_in(conn: sqlite3.Connection, job_id: str, tenant: str | None = None) -> JobRecord:
    """Read a job inside an open transaction; NotFoundError if absent (or of another tenant)."""
    sql = f"SELECT {column_list(JobRecord)} FROM jobs WHERE id = ?"
    params: tuple[str, ...] = (job_id,)
    if tenant is not None:
        sql, params = f"{sql} AND tenant = ?", (job_id, tenant)
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise NotFoundError("No job with this id.")
    return job_from_row(row)


def _check_finish(job_id: str, status: JobStatus, output: ModelRecord | SelectionRecord | None) -> None:
    # Programming errors, not client errors: they would corrupt the job's history if let through.
    if status not in FINISHED:
        raise ValueError(f"{status!r} is not a final status")
    if output is not None and output.job_id != job_id:
        raise ValueError("the model or selection belongs to another job")


def _model_sha256(conn: sqlite3.Connection, model_id: str, tenant: str) -> str:
    """The checksum column of ``tenant``'s model ``model_id``; NotFoundError when there is none."""
    row = conn.execute("SELECT sha256 FROM models WHERE id = ? AND tenant = ?", (model_id, tenant)).fetchone()
    if row is None:
        raise NotFoundError("No model with this id.")
    return str(row[0])


def _first_columns(count: int) -> tuple[str, tuple[Any, ...]]:
    """The datasets SELECT list with ``columns`` cut to its first ``count`` entries, and its parameters.

    json_extract with several paths returns the values at those paths as a JSON array, in path order;
    with one path it returns the value itself, which json_array wraps.
    """
    paths = tuple(f"$[{i}]" for i in range(count))
    extract = f"json_extract(columns, {', '.join('?' * count)})"
    if count == 1:
        extract = f"json_array(json({extract}))"
    cut = f"CASE WHEN json_array_length(columns) > ? THEN {extract} ELSE columns END AS columns"
    names = [cut if name == "columns" else name for name in column_list(DatasetRecord).split(", ")]
    return ", ".join(names), (count, *paths)
