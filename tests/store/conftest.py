"""Fixtures for the store tests: a fresh catalog and record factories with sensible defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.store import Catalog, DatasetRecord, JobRecord, JobStatus, ModelRecord, new_id, utc_now


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog(tmp_path / "catalog.sqlite3", timeout=0.2) as cat:
        yield cat


@pytest.fixture
def make_dataset() -> Callable[..., DatasetRecord]:
    def make(**overrides: Any) -> DatasetRecord:
        values: dict[str, Any] = {
            "id": new_id(),
            "name": "diabetes",
            "n_rows": 442,
            "n_columns": 2,
            "columns": [
                {"name": "age", "kind": "numeric", "n_missing": 0},
                {"name": "sex", "kind": "categorical", "n_missing": 1, "levels": ["F", "M"]},
            ],
            "size_bytes": 1234,
            "sha256": "ab" * 32,
            "created_at": utc_now(),
        }
        values.update(overrides)
        return DatasetRecord(**values)

    return make


@pytest.fixture
def make_job() -> Callable[..., JobRecord]:
    def make(**overrides: Any) -> JobRecord:
        values: dict[str, Any] = {
            "id": new_id(),
            "kind": "fit",
            "name": "lasso",
            "status": JobStatus.QUEUED,
            "progress_fraction": 0.0,
            "progress_stage": "queued",
            "progress_message": None,
            "created_at": utc_now(),
            "started_at": None,
            "finished_at": None,
            "model_id": None,
            "error": None,
            "request": {"target": "y", "alpha": None, "cv": {"folds": 10}},
            "dataset_id": new_id(),
        }
        values.update(overrides)
        return JobRecord(**values)

    return make


@pytest.fixture
def make_model() -> Callable[..., ModelRecord]:
    def make(job_id: str, **overrides: Any) -> ModelRecord:
        values: dict[str, Any] = {
            "id": new_id(),
            "name": "lasso",
            "job_id": job_id,
            "dataset_id": new_id(),
            "created_at": utc_now(),
            "sha256": "cd" * 32,
            "size_bytes": 999,
            "summary": {"alpha": 0.0123, "selected_features": ["bmi", "s5"], "classes": None},
        }
        values.update(overrides)
        return ModelRecord(**values)

    return make
