"""Tests for the catalog's datasets and models: round trips, tenants, pagination, deletion."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from service.errors import NotFoundError, NotReadyError
from service.store import (
    Catalog,
    DatasetRecord,
    JobRecord,
    JobStatus,
    ModelRecord,
    is_valid_id,
    new_id,
    utc_now,
)

MakeDataset = Callable[..., DatasetRecord]
MakeJob = Callable[..., JobRecord]
MakeModel = Callable[..., ModelRecord]


def test_new_id_is_32_lowercase_hex_and_unique() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(is_valid_id(i) and len(i) == 32 and i == i.lower() for i in ids)


def test_utc_now_is_rfc3339_utc_with_microseconds() -> None:
    stamp = utc_now()
    assert len(stamp) == len("2026-11-25T10:40:00.123456Z")
    assert stamp[10] == "T"
    assert stamp.endswith("Z")
    assert stamp[19] == "."


def test_catalog_uses_wal_journal(catalog: Catalog) -> None:
    with sqlite3.connect(catalog.path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert mode == "wal"


def test_catalog_dataset_round_trip(catalog: Catalog, make_dataset: MakeDataset) -> None:
    record = make_dataset()
    catalog.insert_dataset(record)
    assert catalog.get_dataset(record.id) == record


def test_catalog_check_dataset_for_its_tenant_only(catalog: Catalog, make_dataset: MakeDataset) -> None:
    record = make_dataset(tenant="acme")
    catalog.insert_dataset(record)
    catalog.check_dataset(record.id, "acme")  # raises when absent
    with pytest.raises(NotFoundError):
        catalog.check_dataset(record.id, "globex")
    catalog.delete_dataset(record.id, "acme")
    with pytest.raises(NotFoundError):
        catalog.check_dataset(record.id, "acme")


def test_catalog_dataset_with_null_name_round_trip(catalog: Catalog, make_dataset: MakeDataset) -> None:
    record = make_dataset(name=None, columns=[])
    catalog.insert_dataset(record)
    assert catalog.get_dataset(record.id) == record


def test_catalog_get_unknown_ids_raise_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError):
        catalog.get_dataset(new_id())
    with pytest.raises(NotFoundError):
        catalog.get_job(new_id())
    with pytest.raises(NotFoundError):
        catalog.get_model(new_id())


def test_catalog_model_round_trip(catalog: Catalog, make_model: MakeModel) -> None:
    record = make_model(new_id(), tenant="acme")
    catalog.insert_model(record)
    assert catalog.get_model(record.id, tenant="acme") == record


def test_catalog_model_text_and_sha256_match_the_record(catalog: Catalog, make_model: MakeModel) -> None:
    record = make_model(new_id(), tenant="acme", sha256="ef" * 32)
    catalog.insert_model(record)
    assert catalog.model_sha256(record.id, "acme") == "ef" * 32
    text = catalog.get_model_text(record.id, "acme")
    assert (text.id, text.name, text.job_id, text.dataset_id) == (
        record.id,
        "lasso",
        record.job_id,
        record.dataset_id,
    )
    assert json.loads(text.summary) == record.summary
    [listed], total = catalog.list_models_text(tenant="acme")
    assert listed == text and total == 1
    for read in (catalog.model_sha256, catalog.get_model_text):
        with pytest.raises(NotFoundError):
            read(record.id, "globex")
    assert catalog.list_models_text(tenant="globex") == ([], 0)


def test_catalog_list_datasets_paginates_newest_first(catalog: Catalog, make_dataset: MakeDataset) -> None:
    # Equal timestamps on purpose: the order must still be insertion order, newest first.
    stamp = utc_now()
    records = [make_dataset(created_at=stamp) for _ in range(5)]
    for record in records:
        catalog.insert_dataset(record)
    newest_first = [r.id for r in reversed(records)]

    page, total = catalog.list_datasets(limit=2, offset=0)
    assert total == 5
    assert [r.id for r in page] == newest_first[:2]
    page, total = catalog.list_datasets(limit=2, offset=2)
    assert [r.id for r in page] == newest_first[2:4]
    page, total = catalog.list_datasets(limit=2, offset=4)
    assert (total, [r.id for r in page]) == (5, newest_first[4:])
    page, total = catalog.list_datasets(limit=2, offset=10)
    assert (page, total) == ([], 5)


def test_catalog_list_models_paginates(catalog: Catalog, make_model: MakeModel) -> None:
    for _ in range(3):
        catalog.insert_model(make_model(new_id()))
    page, total = catalog.list_models(limit=1, offset=1)
    assert total == 3
    assert len(page) == 1


def test_catalog_list_rejects_negative_page(catalog: Catalog) -> None:
    with pytest.raises(ValueError):
        catalog.list_datasets(limit=-1, offset=0)
    with pytest.raises(ValueError):
        catalog.list_jobs(limit=10, offset=-1)


def test_catalog_tenants_never_see_each_other(
    catalog: Catalog, make_dataset: MakeDataset, make_job: MakeJob, make_model: MakeModel
) -> None:
    mine, theirs = make_dataset(), make_dataset(tenant="acme")
    job, model = make_job(tenant="acme"), make_model(new_id(), tenant="acme")
    catalog.insert_dataset(mine)
    catalog.insert_dataset(theirs)
    catalog.insert_job(job)
    catalog.insert_model(model)

    assert catalog.list_datasets(limit=10, offset=0) == ([mine], 1)
    assert catalog.list_datasets(limit=10, offset=0, tenant="acme") == ([theirs], 1)
    assert catalog.list_jobs(limit=10, offset=0) == ([], 0)
    assert catalog.list_models(limit=10, offset=0) == ([], 0)
    with pytest.raises(NotFoundError):
        catalog.get_dataset(theirs.id)
    with pytest.raises(NotFoundError):
        catalog.get_job(job.id)
    with pytest.raises(NotFoundError):
        catalog.delete_model(model.id)
    with pytest.raises(NotFoundError):
        catalog.delete_dataset(theirs.id)
    assert catalog.get_dataset(theirs.id, tenant="acme") == theirs
    assert catalog.get_model(model.id, tenant="acme") == model


def test_catalog_delete_dataset_keeps_jobs_and_models(
    catalog: Catalog, make_dataset: MakeDataset, make_job: MakeJob, make_model: MakeModel
) -> None:
    dataset = make_dataset()
    job = make_job(dataset_id=dataset.id)
    model = make_model(job.id, dataset_id=dataset.id)
    catalog.insert_dataset(dataset)
    catalog.insert_job(job)
    catalog.finish_job(job.id, JobStatus.SUCCEEDED, model=model)

    catalog.delete_dataset(dataset.id)
    with pytest.raises(NotFoundError):
        catalog.get_dataset(dataset.id)
    with pytest.raises(NotFoundError):
        catalog.delete_dataset(dataset.id)
    assert catalog.get_job(job.id).dataset_id == dataset.id
    assert catalog.get_model(model.id) == model


def test_catalog_delete_model(catalog: Catalog, make_model: MakeModel) -> None:
    model = make_model(new_id())
    catalog.insert_model(model)
    catalog.delete_model(model.id)
    with pytest.raises(NotFoundError):
        catalog.get_model(model.id)
    with pytest.raises(NotFoundError):
        catalog.delete_model(model.id)


def test_catalog_check_writable_passes_on_fresh_catalog(catalog: Catalog) -> None:
    catalog.check_writable()
    # The probe row is rolled back: readiness checks never grow the database.
    with sqlite3.connect(catalog.path) as conn:
        count = conn.execute("SELECT COUNT(*) FROM readiness_probe").fetchone()[0]
    conn.close()
    assert count == 0


def test_catalog_check_writable_fails_while_another_writer_holds_the_lock(catalog: Catalog) -> None:
    other = sqlite3.connect(catalog.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(NotReadyError):
            catalog.check_writable()
        other.execute("ROLLBACK")
    finally:
        other.close()
    catalog.check_writable()


def test_catalog_check_writable_fails_when_closed(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite3")
    catalog.close()
    catalog.close()  # idempotent
    with pytest.raises(NotReadyError):
        catalog.check_writable()


def test_catalog_lists_datasets_with_their_first_columns_exactly_as_stored(
    catalog: Catalog, make_dataset: MakeDataset
) -> None:
    awkward = [
        {
            "name": 'q"uo\\te é',
            "kind": "numeric",
            "n_missing": 0,
            "extremes": [5e-324, 1.7976931348623157e308],
        },
        {"name": "tenth", "kind": "numeric", "n_missing": 0, "extremes": [0.1 + 0.2, -(2**62)]},
        {"name": "g", "kind": "categorical", "n_missing": 3, "levels": ["a", "b=c", "ünï"]},
    ]
    wide = awkward + [{"name": f"x{i}", "kind": "numeric", "n_missing": 0} for i in range(2_000)]
    stamp = utc_now()  # the same for both: listed newest (inserted last) first
    narrow = make_dataset(columns=awkward[:2], n_columns=2, created_at=stamp)
    catalog.insert_dataset(make_dataset(columns=wide, n_columns=len(wide), created_at=stamp))
    catalog.insert_dataset(narrow)
    page, _ = catalog.list_datasets(columns_shown=3)
    assert page[0].columns == narrow.columns  # short enough: untouched
    assert page[1].columns == wide[:4]  # the first three, and one more to say there are more
    full, _ = catalog.list_datasets()
    assert full[1].columns == wide
    none_shown, _ = catalog.list_datasets(columns_shown=0)  # one summary: still a list
    assert [r.columns for r in none_shown] == [narrow.columns[:1], wide[:1]]
