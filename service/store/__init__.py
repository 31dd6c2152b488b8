"""Persistence: the SQLite catalog of datasets, jobs and models, and their checksummed blob files."""

from service.store.atomic import FileDigest, atomic_write, atomic_write_bytes, sha256_file
from service.store.blobs import DatasetStore, ModelStore, sweep_temp_files
from service.store.catalog import Catalog
from service.store.records import (
    DEFAULT_TENANT,
    FINISHED,
    DatasetRecord,
    JobRecord,
    JobStatus,
    ModelRecord,
    ModelText,
    is_valid_id,
    new_id,
    utc_now,
)

__all__ = [
    "DEFAULT_TENANT",
    "FINISHED",
    "Catalog",
    "DatasetRecord",
    "DatasetStore",
    "FileDigest",
    "JobRecord",
    "JobStatus",
    "ModelRecord",
    "ModelStore",
    "ModelText",
    "atomic_write",
    "atomic_write_bytes",
    "is_valid_id",
    "new_id",
    "sha256_file",
    "sweep_temp_files",
    "utc_now",
]
