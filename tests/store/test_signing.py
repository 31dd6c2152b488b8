"""Model files are signed: a file the service did not write is never unpickled, whatever the catalog says."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
from pathlib import Path
from typing import BinaryIO

import joblib
import pytest

from service.errors import ArtifactRejectedError
from service.store import ModelStore, atomic_write, new_id
from service.store.blobs import PICKLE_PREFIX
from service.store.signing import (
    MARKER,
    MARKER_V2,
    SECRET_FILE,
    TRAILER_SIZE,
    Binding,
    SigningWriter,
    load_or_create_secret,
)
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


def test_model_store_rejects_genuine_file_copied_over_another_tenants_model(tmp_path: Path) -> None:
    # The attack of issue 11: a genuine file of acme's model, copied over globex's model file, with
    # globex's catalog checksum edited to match. Signed for acme's id and tenant, it does not verify.
    flag = tmp_path / "unpickled.flag"
    store = ModelStore(tmp_path, secret=SECRET)
    acme_model, globex_model = new_id(), new_id()
    store.save(acme_model, Tripwire(flag), tenant="acme")
    data = store.path(acme_model).read_bytes()
    store.path(globex_model).write_bytes(data)
    with pytest.raises(ArtifactRejectedError):
        store.load(globex_model, _sha256(data), tenant="globex")
    with pytest.raises(ArtifactRejectedError):  # nor for another model of the same tenant
        store.load(globex_model, _sha256(data), tenant="acme")
    # Under its own id, but claimed for another tenant (a catalog row moved between tenants).
    with pytest.raises(ArtifactRejectedError):
        store.load(acme_model, _sha256(data), tenant="globex")
    assert not flag.exists()


def test_model_store_new_files_are_version_2_and_load_for_their_id_and_tenant(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()
    digest = store.save(model_id, {"coef": [1.0]}, tenant="acme")
    assert store.path(model_id).read_bytes().endswith(MARKER_V2)
    assert store.load(model_id, digest.sha256, tenant="acme") == {"coef": [1.0]}


def test_model_store_version_1_file_still_loads_for_its_id(tmp_path: Path) -> None:
    # A file written before issue 11 binds no id or tenant; it was signed with the secret alone.
    store = ModelStore(tmp_path, secret=SECRET)
    model_id = new_id()

    def dump(file: BinaryIO) -> None:
        signer = SigningWriter(file, SECRET)
        signer.write(PICKLE_PREFIX)
        pickle.dump({"coef": [3.0]}, signer, protocol=5)
        signer.finish()

    digest = atomic_write(store.path(model_id), dump)
    assert store.path(model_id).read_bytes().endswith(MARKER)
    assert store.load(model_id, digest.sha256, tenant="acme") == {"coef": [3.0]}


def test_model_store_version_2_tag_does_not_pass_as_version_1(tmp_path: Path) -> None:
    # A version-2 tag covers binding + payload. Were it made with the secret itself, the bytes
    # binding + payload relabelled as version 1 (which binds nothing) would verify under any id.
    # Version-2 tags use a key derived from the secret, so no version-1 check accepts them.
    store = ModelStore(tmp_path, secret=SECRET)
    model_id, other_id = new_id(), new_id()
    store.save(model_id, {"coef": [1.0]}, tenant="acme")
    data = store.path(model_id).read_bytes()
    payload, tag = data[:-TRAILER_SIZE], data[-TRAILER_SIZE : -len(MARKER_V2)]
    forged = Binding(model_id, "acme").header() + payload + tag + MARKER
    store.path(other_id).write_bytes(forged)
    with pytest.raises(ArtifactRejectedError):
        store.load(other_id, _sha256(forged), tenant="globex")
