"""Tests for the blob stores: checksums verified before use, ids that cannot escape their directory."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

import joblib
import numpy as np
import pytest

from service.errors import IntegrityError, NotFoundError
from service.store import DatasetStore, ModelStore, new_id, sha256_file, sweep_temp_files
from service.store.atomic import atomic_write
from service.store.blobs import PICKLE_PREFIX
from service.store.signing import SigningWriter
from tests.conftest import Tripwire

SECRET = b"test-secret-of-sixteen-bytes-or-more"
BAD_IDS = [
    "../x",
    "../" + "a" * 29,
    "a" * 15 + "/" + "b" * 16,
    "A" * 32,
    "a" * 31,
    "a" * 33,
    "a" * 32 + "\n",
    "",
]


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_dataset_store_round_trip(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    dataset_id = new_id()
    digest = store.save(dataset_id, b"ARROW1 pretend arrow")
    assert store.path(dataset_id) == tmp_path / "datasets" / f"{dataset_id}.arrow"
    assert digest.sha256 == hashlib.sha256(b"ARROW1 pretend arrow").hexdigest()
    assert store.read(dataset_id, digest.sha256) == b"ARROW1 pretend arrow"


def test_dataset_store_reads_and_deletes_legacy_parquet_files(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    dataset_id = new_id()
    legacy = tmp_path / "datasets" / f"{dataset_id}.parquet"
    legacy.write_bytes(b"PAR1 stored before PAR1")
    assert store.path(dataset_id) == legacy
    assert store.read(dataset_id, hashlib.sha256(b"PAR1 stored before PAR1").hexdigest()).startswith(b"PAR1")
    store.delete(dataset_id)
    assert not legacy.exists()


def test_dataset_store_read_rejects_checksum_mismatch(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    dataset_id = new_id()
    digest = store.save(dataset_id, b"some bytes")
    _flip_last_byte(store.path(dataset_id))
    with pytest.raises(IntegrityError):
        store.read(dataset_id, digest.sha256)


def test_dataset_store_read_of_missing_file_is_integrity_error(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    with pytest.raises(IntegrityError):
        store.read(new_id(), "00" * 32)


def test_dataset_store_delete_removes_file_and_tolerates_missing(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    dataset_id = new_id()
    store.save(dataset_id, b"x")
    store.delete(dataset_id)
    assert not store.path(dataset_id).exists()
    store.delete(dataset_id)  # already gone: no error
    assert list((tmp_path / "datasets").iterdir()) == []


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_dataset_store_rejects_path_traversal_ids(tmp_path: Path, bad_id: str) -> None:
    store = DatasetStore(tmp_path / "root")
    with pytest.raises(NotFoundError):
        store.save(bad_id, b"x")
    with pytest.raises(NotFoundError):
        store.read(bad_id, "00" * 32)
    with pytest.raises(NotFoundError):
        store.delete(bad_id)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_model_store_rejects_path_traversal_ids(tmp_path: Path, bad_id: str) -> None:
    store = ModelStore(tmp_path / "root", secret=SECRET)
    with pytest.raises(NotFoundError):
        store.save(bad_id, {"a": 1})
    with pytest.raises(NotFoundError):
        store.load(bad_id, "00" * 32)
    with pytest.raises(NotFoundError):
        store.delete(bad_id)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_model_store_round_trip_with_numpy_arrays(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    artifact = {"coef": np.arange(1000, dtype=np.float64), "intercept": 1.5, "classes": None}
    digest = store.save(model_id, artifact)
    # The hash taken while pickle wrote matches the file on disk.
    assert digest == sha256_file(store.path(model_id))
    assert store.path(model_id).read_bytes().startswith(PICKLE_PREFIX)
    loaded = store.load(model_id, digest.sha256)
    assert isinstance(loaded, dict)
    np.testing.assert_array_equal(loaded["coef"], artifact["coef"])
    assert loaded["intercept"] == 1.5


def test_model_store_loads_files_written_with_joblib(tmp_path: Path) -> None:
    # Model files were signed joblib streams before they became pickles: those still load.
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    artifact = {"coef": np.arange(1000, dtype=np.float64), "intercept": 1.5}

    def dump(file: BinaryIO) -> None:
        signer = SigningWriter(file, SECRET)
        joblib.dump(artifact, signer)
        signer.finish()

    digest = atomic_write(store.path(model_id), dump)
    loaded = store.load(model_id, digest.sha256)
    assert isinstance(loaded, dict) and loaded["intercept"] == 1.5
    np.testing.assert_array_equal(loaded["coef"], artifact["coef"])


def test_model_store_load_unpickles_intact_file(tmp_path: Path) -> None:
    # Shows the tripwire fires on load, so its silence in the next test means something.
    flag = tmp_path / "unpickled.flag"
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    digest = store.save(model_id, Tripwire(flag))
    store.load(model_id, digest.sha256)
    assert flag.exists()


def test_model_store_load_refuses_tampered_file_before_unpickling(tmp_path: Path) -> None:
    flag = tmp_path / "unpickled.flag"
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    digest = store.save(model_id, Tripwire(flag))
    # Changing any byte breaks the catalog checksum, which is checked before the signature.
    _flip_last_byte(store.path(model_id))
    with pytest.raises(IntegrityError):
        store.load(model_id, digest.sha256)
    assert not flag.exists()


def test_model_store_load_refuses_wrong_catalog_checksum(tmp_path: Path) -> None:
    flag = tmp_path / "unpickled.flag"
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    store.save(model_id, Tripwire(flag))
    with pytest.raises(IntegrityError):
        store.load(model_id, "0" * 64)
    assert not flag.exists()


def test_model_store_load_of_missing_file_is_integrity_error(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError):
        ModelStore(tmp_path, secret=SECRET).load(new_id(), "0" * 64)


def test_model_store_delete_removes_file(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    store.save(model_id, [1, 2, 3])
    store.delete(model_id)
    assert not store.path(model_id).exists()
    store.delete(model_id)
    assert list((tmp_path / "models").iterdir()) == []


def test_sweep_temp_files_removes_only_temp_files(tmp_path: Path) -> None:
    datasets, models = DatasetStore(tmp_path), ModelStore(tmp_path, secret=SECRET)
    dataset_id, model_id = new_id(), new_id()
    datasets.save(dataset_id, b"keep me")
    models.save(model_id, "keep me too")
    stray = [
        tmp_path / "datasets" / f".{dataset_id}.arrow.abc.tmp",
        tmp_path / "models" / ".m.joblib.x.tmp",
    ]
    for path in stray:
        path.write_bytes(b"partial")
    assert sorted(sweep_temp_files(tmp_path)) == sorted(stray)
    assert not any(path.exists() for path in stray)
    assert datasets.path(dataset_id).exists()
    assert models.path(model_id).exists()
