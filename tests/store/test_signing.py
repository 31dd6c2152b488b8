"""Model files are signed: a file the service did not write is never unpickled, whatever the catalog says."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import joblib
import pytest

from service.errors import ArtifactRejectedError
from service.store import ModelStore, new_id
from service.store.signing import SECRET_FILE, load_or_create_secret
from tests.conftest import Tripwire

SECRET = b"0123456789abcdef0123456789abcdef"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_model_store_signed_file_round_trips(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    digest = store.save(model_id, {"coef": [1.0, 2.0]})
    assert store.load(model_id, digest.sha256) == {"coef": [1.0, 2.0]}


def test_model_store_rejects_foreign_file_even_with_matching_checksum(tmp_path: Path) -> None:
    # Someone who can write the data dir drops a plain joblib pickle and fixes the catalog checksum.
    flag = tmp_path / "unpickled.flag"
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    buffer = io.BytesIO()
    joblib.dump(Tripwire(flag), buffer)
    store.path(model_id).write_bytes(buffer.getvalue())
    with pytest.raises(ArtifactRejectedError):
        store.load(model_id, _sha256(buffer.getvalue()))
    assert not flag.exists()


def test_model_store_rejects_file_signed_with_another_secret(tmp_path: Path) -> None:
    flag = tmp_path / "unpickled.flag"
    other = ModelStore(tmp_path / "other", secret=b"another-secret-another-secret!!")
    model_id = new_id()
    other.save(model_id, Tripwire(flag))
    data = other.path(model_id).read_bytes()
    store = ModelStore(tmp_path, secret=SECRET)
    store.path(model_id).write_bytes(data)
    with pytest.raises(ArtifactRejectedError):
        store.load(model_id, _sha256(data))
    assert not flag.exists()


def test_model_store_rejects_payload_changed_and_checksum_fixed(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    store.save(model_id, {"coef": [1.0, 2.0]})
    data = bytearray(store.path(model_id).read_bytes())
    data[10] ^= 0x01  # inside the payload: the tag no longer matches
    store.path(model_id).write_bytes(bytes(data))
    with pytest.raises(ArtifactRejectedError):
        store.load(model_id, _sha256(bytes(data)))


def test_model_store_refuses_short_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ModelStore(tmp_path, secret=b"short")


def test_secret_generated_once_private_and_stable(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    second = load_or_create_secret(tmp_path)
    assert first == second and len(first) == 32
    mode = stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode)
    assert mode == 0o600
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert load_or_create_secret(elsewhere) != first  # each data dir gets its own
