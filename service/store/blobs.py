"""Blob files: uploaded datasets as Arrow IPC and trained models as signed pickles, checksum-verified."""

from __future__ import annotations

import contextlib
import hashlib
import io
import pickle
import shutil
from pathlib import Path
from typing import BinaryIO

from service.errors import IntegrityError, NotFoundError
from service.store.atomic import FileDigest, atomic_write, atomic_write_bytes, is_temp_file
from service.store.records import DEFAULT_TENANT, is_valid_id
from service.store.signing import Binding, SigningWriter, verified_payload

# A model payload that starts with this is a pickle (protocol 5); any other is a joblib stream (always
# "\x80..."), as model files were before. Plain pickle writes a wide model's 30 MB path 4x faster
# than joblib did through the signing writer, and reads it 10x faster. Inside the signed bytes, so
# the format is authenticated with the rest.
PICKLE_PREFIX = b"SFPICKLE5\n"


def _object_path(directory: Path, object_id: str, suffix: str) -> Path:
    # The id is checked before it touches a path, so "../x" or "a/b" can never leave the directory.
    if not is_valid_id(object_id):
        raise NotFoundError("No object with this id.")
    return directory / f"{object_id}{suffix}"


def _read_verified(path: Path, sha256: str) -> bytes:
    """The file's bytes, after checking them against the checksum the catalog recorded."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        # The catalog says the object exists, so a missing file is damage, not a 404.
        raise IntegrityError("A stored file is missing.") from None
    # Hash the very bytes that are returned, so nothing can swap the file between check and use.
    if hashlib.sha256(data).hexdigest() != sha256.lower():
        raise IntegrityError("A stored file does not match its checksum.")
    return data


class DatasetStore:
    """Uploaded tables as ``<root>/datasets/<id>.arrow``, or ``<id>.parquet`` if stored before those."""

    SUFFIX = ".arrow"
    # Datasets were Parquet files until jobs had to read wide tables fast (tableio); they stay readable.
    LEGACY_SUFFIX = ".parquet"

    def __init__(self, root: Path, *, min_free_bytes: int = 0) -> None:
        self.directory = root / "datasets"
        self.directory.mkdir(parents=True, exist_ok=True)
        # A write that would leave less free space than this is refused (507) before it starts.
        self.min_free_bytes = min_free_bytes

    def path(self, dataset_id: str) -> Path:
        """Where the dataset's file lives: the new file's path unless only a legacy file exists.

        NotFoundError for a malformed id.
        """
        path = _object_path(self.directory, dataset_id, self.SUFFIX)
        legacy = path.with_suffix(self.LEGACY_SUFFIX)
        return legacy if not path.exists() and legacy.exists() else path

    def save(self, dataset_id: str, data: bytes) -> FileDigest:
        """Write the stored bytes atomically; the digest goes into the catalog."""
        path = _object_path(self.directory, dataset_id, self.SUFFIX)
        return atomic_write_bytes(path, data, min_free_bytes=self.min_free_bytes)

    def read(self, dataset_id: str, sha256: str) -> bytes:
        """The stored bytes; IntegrityError when the file is missing or does not match ``sha256``."""
        return _read_verified(self.path(dataset_id), sha256)

    def delete(self, dataset_id: str) -> None:
        """Remove the file; a file already gone is fine (a crash may have come between the steps).

        A partitioned dataset's manifest goes too, and the partition files the service wrote
        (its directory); files of a registered source belong to their owner and stay.
        """
        path = _object_path(self.directory, dataset_id, self.SUFFIX)
        manifest = _object_path(self.directory, dataset_id, self.MANIFEST_SUFFIX)
        for candidate in (path, path.with_suffix(self.LEGACY_SUFFIX), manifest):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
        shutil.rmtree(self.partitions_directory(dataset_id), ignore_errors=True)

    # A partitioned dataset (service.data.partitions) is a manifest naming its Parquet files; the
    # catalog's checksum covers the manifest. The store keeps its bytes and does not parse them.
    MANIFEST_SUFFIX = ".manifest.json"

    def partitions_directory(self, dataset_id: str) -> Path:
        """Where the service writes the Parquet files of a partitioned dataset it stores itself."""
        return _object_path(self.directory, dataset_id, "")

    def is_partitioned(self, dataset_id: str) -> bool:
        return _object_path(self.directory, dataset_id, self.MANIFEST_SUFFIX).exists()

    def save_manifest(self, dataset_id: str, manifest: bytes) -> FileDigest:
        """Write a partitioned dataset's manifest atomically (after its partition files)."""
        path = _object_path(self.directory, dataset_id, self.MANIFEST_SUFFIX)
        return atomic_write_bytes(path, manifest, min_free_bytes=self.min_free_bytes)

    def remove_unknown(self, known_ids: set[str]) -> list[str]:
        """Delete every dataset whose id is not in ``known_ids`` (file, manifest, partitions); the ids.

        An upload writes its files before its catalog row, so a crash between the two leaves files
        no row points to. Call at start-up only, before any upload: an upload's files are not in
        the catalog until it ends.
        """
        found = {
            path.name.split(".", 1)[0] for path in self.directory.iterdir() if not path.name.startswith(".")
        }
        removed = sorted(found - known_ids)
        for dataset_id in removed:
            if is_valid_id(dataset_id):
                self.delete(dataset_id)
        return [dataset_id for dataset_id in removed if is_valid_id(dataset_id)]

    def read_manifest(self, dataset_id: str, sha256: str) -> bytes:
        """The manifest's bytes, checked against ``sha256`` (IntegrityError when missing or changed)."""
        return _read_verified(_object_path(self.directory, dataset_id, self.MANIFEST_SUFFIX), sha256)


class ModelStore:
    """Trained model artifacts as ``<root>/models/<id>.joblib``, each signed with the store's secret.

    The suffix is historical (files were joblib streams once) and kept so that stored files stay
    where they are; new files are pickles, and both kinds load.
    """

    def __init__(self, root: Path, *, secret: bytes, min_free_bytes: int = 0) -> None:
        if len(secret) < 16:
            raise ValueError("a model store needs a signing secret of at least 16 bytes")
        self.directory = root / "models"
        self.directory.mkdir(parents=True, exist_ok=True)
        # A write that would leave less free space than this is refused (507) before it starts.
        self.min_free_bytes = min_free_bytes
        self._secret = secret

    def path(self, model_id: str) -> Path:
        """Where the model's artifact lives (NotFoundError for a malformed id)."""
        return _object_path(self.directory, model_id, ".joblib")

    def save(self, model_id: str, artifact: object, *, tenant: str = DEFAULT_TENANT) -> FileDigest:
        """Pickle ``artifact`` into an atomic file signed for this id and ``tenant``; the digest goes
        into the catalog."""

        def dump(file: BinaryIO) -> None:
            signer = SigningWriter(file, self._secret, Binding(model_id, tenant))
            signer.write(PICKLE_PREFIX)
            pickle.dump(artifact, signer, protocol=5)
            signer.finish()

        # The size is unknown until pickled: the reserve is checked against nothing incoming, and a
        # write that then meets a full disk fails as a 507 all the same.
        return atomic_write(self.path(model_id), dump, min_free_bytes=self.min_free_bytes)

    def load(self, model_id: str, sha256: str, *, tenant: str = DEFAULT_TENANT) -> object:
        """The unpickled artifact, only ever after its bytes matched ``sha256`` and its signature.

        Unpickling runs arbitrary code, so a file that does not match the checksum recorded when we
        wrote it (IntegrityError), or whose HMAC does not verify with our secret for this id and
        ``tenant`` (ArtifactRejectedError: someone changed both the file and the catalog, copied
        another model's file here, or the file is not ours), is never unpickled.
        """
        return self.load_sized(model_id, sha256, tenant=tenant)[0]

    def load_sized(self, model_id: str, sha256: str, *, tenant: str = DEFAULT_TENANT) -> tuple[object, int]:
        """:meth:`load`, and the size in bytes of the file it verified (what a cache weighs it by)."""
        data = _read_verified(self.path(model_id), sha256)
        payload = verified_payload(data, self._secret, Binding(model_id, tenant))
        if payload[: len(PICKLE_PREFIX)] == PICKLE_PREFIX:
            return pickle.loads(payload[len(PICKLE_PREFIX) :]), len(data)
        # Only for files written before the pickle format: joblib costs the service's start 0.1 s.
        import joblib

        return joblib.load(io.BytesIO(payload)), len(data)

    def delete(self, model_id: str) -> None:
        """Remove the artifact; a file already gone is fine."""
        with contextlib.suppress(FileNotFoundError):
            self.path(model_id).unlink()

    def remove_unknown(self, known_ids: set[str]) -> list[str]:
        """Delete every artifact whose id is not in ``known_ids``; return the ids removed.

        A job saves its model before reporting it, so a job whose report never arrived (its process
        died, the server crashed) leaves a file no catalog row points to. Call at start-up only,
        before any job runs: a running job's file is not in the catalog yet either.
        """
        removed = []
        for path in sorted(self.directory.glob("*.joblib")):
            if path.stem not in known_ids and is_valid_id(path.stem):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed.append(path.stem)
        return removed


def sweep_temp_files(root: Path) -> list[Path]:
    """Remove temp files that a crash left behind under ``root``; return what was removed.

    Call at start-up only, before any write starts: a write in flight owns a temp file too.
    """
    removed = []
    for path in sorted(root.rglob(".*.tmp")):
        if path.is_file() and is_temp_file(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed.append(path)
    return removed
