"""The catalog's selections: a version-3 catalog gains the table and jobs.selection_id; rows round-trip."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from service.errors import NotFoundError
from service.store import Catalog
from service.store.records import JobRecord, JobStatus, SelectionRecord, new_id, utc_now
from service.store.schema import SCHEMA_VERSION
from tests.jobs.factories import submission


def _job(tmp_path: Path, tenant: str = "default") -> JobRecord:
    """A queued stability job, as the manager records one."""
    record, _ = submission(tmp_path, tenant)
    return replace(record, kind="stability")


def test_a_version_3_catalog_gains_selections_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    with Catalog(path) as catalog:
        old = _job(tmp_path)
        catalog.insert_job(old)
    with sqlite3.connect(path) as conn:  # back to version 3: no selections, no jobs.selection_id
        conn.execute("DROP TABLE selections")
        conn.execute("ALTER TABLE jobs DROP COLUMN selection_id")
        conn.execute("PRAGMA user_version = 3")
    with Catalog(path) as catalog:
        assert catalog.get_job(old.id).selection_id is None  # the old row reads with the default
        assert catalog.list_selections() == ([], 0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5


def test_a_selection_is_stored_with_its_jobs_end_and_stays_with_its_tenant(tmp_path: Path) -> None:
    with Catalog(tmp_path / "catalog.sqlite3") as catalog:
        job = _job(tmp_path, tenant="acme")
        catalog.insert_job(job)
        catalog.mark_running(job.id)
        selection = SelectionRecord(
            id=new_id(),
            kind="stability",
            job_id=job.id,
            dataset_id=job.dataset_id,
            created_at=utc_now(),
            summary={"selected": ["bmi"], "pfer_bound": 0.5},
            tenant="acme",
        )
        ended = catalog.finish_job(job.id, JobStatus.SUCCEEDED, selection=selection)
        assert ended.status == JobStatus.SUCCEEDED and ended.selection_id == selection.id
        assert ended.model_id is None
        assert catalog.get_selection(selection.id, tenant="acme") == selection
        with pytest.raises(NotFoundError):
            catalog.get_selection(selection.id, tenant="globex")
        assert catalog.list_selections(tenant="globex") == ([], 0)
        # A selection of another job is a programming error, refused before anything is written.
        with pytest.raises(ValueError, match="another job"):
            catalog.finish_job(new_id(), JobStatus.SUCCEEDED, selection=selection)
        catalog.delete_job(job.id, tenant="acme")  # the selection outlives its job
        assert catalog.list_selections(tenant="acme")[1] == 1
        catalog.delete_selection(selection.id, tenant="acme")
        with pytest.raises(NotFoundError):
            catalog.delete_selection(selection.id, tenant="acme")
