"""Storage faults become problems: a full disk is a 507, a read-only one a 503, and nothing stored breaks."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from multiprocessing import Event
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

import pytest
from fastapi.testclient import TestClient

import service.app
from service.api.deps import Services
from service.api.job_specs import design_spec, fit_spec
from service.api.schemas import JobCreate
from service.app import create_app
from service.config import Settings
from service.data.parsing import parse_csv
from service.data.tableio import table_to_bytes
from service.errors import InsufficientStorageError, ServiceError, StoreUnavailableError
from service.store import Catalog, DatasetStore, atomic_write, atomic_write_bytes, new_id
from service.store.atomic import DigestingWriter, probe_writable
from service.store.records import DatasetRecord
from service.store.space import sqlite_storage_error
from service.worker.kinds.fit import FitTask
from service.worker.process import run_job
from tests.conftest import upload

FULL = [errno.ENOSPC, errno.EDQUOT, errno.EFBIG]
UNWRITABLE = [errno.EROFS, errno.EACCES, errno.EPERM]
SECRET = b"test-secret-of-sixteen-bytes-or-more"

MakeDataset = Callable[..., DatasetRecord]


class _Usage(NamedTuple):
    total: int
    used: int
    free: int


def _os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _fail_mid_write(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Every atomic write gets half of its first chunk onto disk, then fails with ``code``."""
    real_write = DigestingWriter.write

    def write(self: DigestingWriter, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        real_write(self, view[: len(view) // 2])
        raise _os_error(code)

    monkeypatch.setattr(DigestingWriter, "write", write)


def _free_space(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(10**12, 10**12 - free, free))


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*.tmp"))


def _file_hashes(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix in (".arrow", ".joblib")
    }


# -- atomic writes -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", FULL)
def test_atomic_write_full_disk_is_insufficient_storage_and_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old contents")
    _fail_mid_write(monkeypatch, code)
    with pytest.raises(InsufficientStorageError) as caught:
        atomic_write_bytes(target, b"new contents that do not fit")
    assert caught.value.status == 507
    assert errno.errorcode[code] in caught.value.detail
    assert str(tmp_path) not in caught.value.detail  # the server's paths are nobody's business
    assert target.read_bytes() == b"old contents"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("code", UNWRITABLE)
def test_atomic_write_read_only_disk_is_store_unavailable_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old contents")
    _fail_mid_write(monkeypatch, code)
    with pytest.raises(StoreUnavailableError) as caught:
        atomic_write_bytes(target, b"new contents")
    assert caught.value.status == 503 and int(caught.value.headers["Retry-After"]) > 0
    assert errno.errorcode[code] in caught.value.detail
    assert target.read_bytes() == b"old contents"
    assert _leftovers(tmp_path) == []


def test_atomic_write_temp_file_creation_failure_is_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(*args: Any, **kwargs: Any) -> tuple[int, str]:
        raise _os_error(errno.EROFS)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(StoreUnavailableError):
        atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_other_os_errors_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_mid_write(monkeypatch, errno.EIO)
    with pytest.raises(OSError) as caught:
        atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert not isinstance(caught.value, ServiceError) and caught.value.errno == errno.EIO
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_refuses_below_reserve_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _free_space(monkeypatch, 1000)
    atomic_write_bytes(tmp_path / "fits.bin", b"x" * 400, min_free_bytes=500)  # leaves 600
    with pytest.raises(InsufficientStorageError):
        atomic_write_bytes(tmp_path / "too-big.bin", b"x" * 600, min_free_bytes=500)  # would leave 400

    def write(file: BinaryIO) -> None:
        raise AssertionError("nothing may be written below the reserve")

    with pytest.raises(InsufficientStorageError):
        atomic_write(tmp_path / "unknown-size.bin", write, min_free_bytes=1001)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fits.bin"]


def test_atomic_write_reserve_zero_disables_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _free_space(monkeypatch, 0)
    atomic_write_bytes(tmp_path / "x.bin", b"data", min_free_bytes=0)
    assert (tmp_path / "x.bin").read_bytes() == b"data"


def test_dataset_store_applies_its_reserve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _free_space(monkeypatch, 10_000)
    store = DatasetStore(tmp_path, min_free_bytes=9_000)
    store.save(new_id(), b"x" * 500)
    with pytest.raises(InsufficientStorageError):
        store.save(new_id(), b"x" * 1_500)
    assert len(list(store.directory.iterdir())) == 1


def test_probe_writable_leaves_nothing_behind(tmp_path: Path) -> None:
    probe_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "error"), [(errno.EROFS, StoreUnavailableError), (errno.ENOSPC, InsufficientStorageError)]
)
def test_probe_writable_reports_the_storage_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, error: type[ServiceError]
) -> None:
    def fail(*args: Any, **kwargs: Any) -> tuple[int, str]:
        raise _os_error(code)

    monkeypatch.setattr(tempfile, "mkstemp", fail)
    with pytest.raises(error):
        probe_writable(tmp_path)


# -- the catalog ---------------------------------------------------------------------------------


def test_catalog_full_database_is_insufficient_storage_and_keeps_rows(
    catalog: Catalog, make_dataset: MakeDataset
) -> None:
    kept = make_dataset()
    catalog.insert_dataset(kept)
    # A real SQLITE_FULL: the database may not grow by another page.
    pages = catalog._conn.execute("PRAGMA page_count").fetchone()[0]
    catalog._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = [{"name": f"c{i}", "kind": "numeric", "n_missing": 0} for i in range(2000)]
    with pytest.raises(InsufficientStorageError):
        catalog.insert_dataset(make_dataset(columns=big))
    assert catalog.list_datasets() == ([kept], 1)
    catalog.insert_dataset(small := make_dataset())  # the connection is usable after the failure
    assert catalog.get_dataset(small.id) == small


def test_catalog_read_only_database_is_store_unavailable(catalog: Catalog, make_dataset: MakeDataset) -> None:
    kept = make_dataset()
    catalog.insert_dataset(kept)
    catalog._conn.execute("PRAGMA query_only = ON")  # a real SQLITE_READONLY on every write
    with pytest.raises(StoreUnavailableError) as caught:
        catalog.insert_dataset(make_dataset())
    assert "Retry-After" in caught.value.headers
    assert catalog.get_dataset(kept.id) == kept  # reads still work


def test_catalog_unopenable_database_is_store_unavailable() -> None:
    error = sqlite3.OperationalError("unable to open database file")
    error.sqlite_errorcode = sqlite3.SQLITE_CANTOPEN  # type: ignore[attr-defined]
    assert isinstance(sqlite_storage_error(error), StoreUnavailableError)


def test_catalog_constraint_errors_are_not_storage_problems(
    catalog: Catalog, make_dataset: MakeDataset
) -> None:
    record = make_dataset()
    catalog.insert_dataset(record)
    with pytest.raises(sqlite3.IntegrityError):
        catalog.insert_dataset(record)


# -- the worker's model save ---------------------------------------------------------------------


def _fit_task(data_dir: Path, diabetes_csv: bytes, min_free_bytes: int) -> FitTask:
    dataset_id = new_id()
    digest = DatasetStore(data_dir).save(dataset_id, table_to_bytes(parse_csv(diabetes_csv)))
    job = JobCreate.model_validate({"dataset_id": dataset_id, "target": "y", "path": {"n_alphas": 5}})
    return FitTask(
        job_id=new_id(),
        model_id=new_id(),
        data_dir=data_dir,
        dataset_id=dataset_id,
        dataset_sha256=digest.sha256,
        design=design_spec(job),
        fit=fit_spec(job),
        penalty="lasso",
        artifact_secret=SECRET,
        min_free_bytes=min_free_bytes,
    )


class _Recorder:
    """Stands in for the worker's pipe: keeps every message, so nothing can block on a full pipe."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []

    def send(self, message: tuple[Any, ...]) -> None:
        self.messages.append(message)

    def close(self) -> None:
        pass


def _run_in_process(task: FitTask) -> tuple[Any, ...]:
    """The worker's last message, from ``run_job`` run in this process."""
    recorder = _Recorder()
    run_job(task, cast(Connection, recorder), Event())
    return recorder.messages[-1]


@pytest.mark.parametrize(
    ("fault", "status", "problem_type"),
    [
        ("reserve", 507, "/problems/insufficient-storage"),
        (errno.ENOSPC, 507, "/problems/insufficient-storage"),
        (errno.EROFS, 503, "/problems/store-unavailable"),
    ],
)
def test_worker_model_save_failure_reports_storage_problem(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    diabetes_csv: bytes,
    fault: str | int,
    status: int,
    problem_type: str,
) -> None:
    task = _fit_task(tmp_path, diabetes_csv, min_free_bytes=2**62 if fault == "reserve" else 0)
    if isinstance(fault, int):
        _fail_mid_write(monkeypatch, fault)
    kind, problem = _run_in_process(task)
    assert kind == "error"
    assert problem["status"] == status and problem["type"] == problem_type
    assert list((tmp_path / "models").iterdir()) == []


# -- through the API -----------------------------------------------------------------------------


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[Services]:
    """The Services the next app's lifespan builds, to reach its catalog."""
    captured: list[Services] = []
    real = service.app.build_services

    def capture(settings: Settings) -> Services:
        captured.append(real(settings))
        return captured[-1]

    monkeypatch.setattr(service.app, "build_services", capture)
    return captured


@pytest.fixture
def api(settings: Settings, built: list[Services]) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _snapshot(client: TestClient, data_dir: Path) -> tuple[Any, dict[str, str]]:
    return client.get("/v1/datasets").json(), _file_hashes(data_dir)


def _post_csv(client: TestClient, body: bytes) -> Any:
    return client.post("/v1/datasets", content=body, headers={"Content-Type": "text/csv"})


@pytest.mark.parametrize(
    ("code", "status", "problem_type"),
    [
        (errno.ENOSPC, 507, "/problems/insufficient-storage"),
        (errno.EROFS, 503, "/problems/store-unavailable"),
    ],
)
def test_upload_on_failing_disk_answers_problem_and_damages_nothing(
    api: TestClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    diabetes_csv: bytes,
    code: int,
    status: int,
    problem_type: str,
) -> None:
    stored = upload(api, diabetes_csv)
    before = _snapshot(api, settings.data_dir)
    with monkeypatch.context() as patch:
        _fail_mid_write(patch, code)
        response = _post_csv(api, diabetes_csv)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == problem_type
    assert ("retry-after" in response.headers) == (status == 503)
    assert _snapshot(api, settings.data_dir) == before
    assert _leftovers(settings.data_dir) == []
    assert api.get(f"/v1/datasets/{stored['id']}").json() == stored
    assert api.get("/healthz").status_code == 200
    assert _post_csv(api, diabetes_csv).status_code == 201  # the fault passed, so does the refusal


def test_catalog_read_only_refuses_writes_keeps_reads_and_is_not_ready(
    api: TestClient, built: list[Services], settings: Settings, diabetes_csv: bytes
) -> None:
    stored = upload(api, diabetes_csv)
    before = _snapshot(api, settings.data_dir)
    conn = built[0].catalog._conn
    conn.execute("PRAGMA query_only = ON")
    try:
        response = _post_csv(api, diabetes_csv)
        job = api.post("/v1/jobs", json={"dataset_id": stored["id"], "target": "y"})
        ready = api.get("/readyz")
        assert _snapshot(api, settings.data_dir) == before  # the orphaned dataset file was removed
    finally:
        conn.execute("PRAGMA query_only = OFF")
    assert response.status_code == 503 and response.json()["type"] == "/problems/store-unavailable"
    assert job.status_code == 503 and job.json()["type"] == "/problems/store-unavailable"
    assert ready.status_code == 503 and ready.json()["checks"]["store"] != "ok"
    assert api.get("/readyz").status_code == 200
    assert _post_csv(api, diabetes_csv).status_code == 201


def test_readiness_and_uploads_refused_below_free_space_reserve(tmp_path: Path, diabetes_csv: bytes) -> None:
    settings = Settings(data_dir=tmp_path / "data", workers=1, min_free_bytes=2**62)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        response = _post_csv(client, diabetes_csv)
        listing = client.get("/v1/datasets").json()
    assert ready.status_code == 503 and ready.json()["type"] == "/problems/not-ready"
    checks = ready.json()["checks"]
    assert checks["free_space"] != "ok"
    assert {name: value for name, value in checks.items() if name != "free_space"} == {
        "store": "ok",
        "data_dir": "ok",
        "workers": "ok",
    }
    assert response.status_code == 507 and response.json()["type"] == "/problems/insufficient-storage"
    assert listing == {"items": [], "total": 0}
    assert list((settings.data_dir / "datasets").iterdir()) == []


def test_readiness_reports_unwritable_data_dir(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, api: TestClient
) -> None:
    def read_only(*args: Any, **kwargs: Any) -> tuple[int, str]:
        raise _os_error(errno.EROFS)

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", read_only)
        ready = api.get("/readyz")
    assert ready.status_code == 503 and ready.json()["type"] == "/problems/not-ready"
    assert ready.json()["checks"]["data_dir"] != "ok" and ready.json()["checks"]["store"] == "ok"
    assert api.get("/readyz").status_code == 200
