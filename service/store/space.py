"""Storage faults as problems: a full or read-only disk (errno or SQLite code) and the free-space reserve."""

from __future__ import annotations

import contextlib
import errno
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from service.errors import InsufficientStorageError, ServiceError, StoreUnavailableError

# A read-only or forbidden store usually comes back (remount, fixed permissions): say when to retry.
RETRY_AFTER_S = 30
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_UNWRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
# Primary SQLite result codes (the low byte of an extended code).
_SQLITE_UNWRITABLE = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM}
)


def insufficient_storage(reason: str) -> InsufficientStorageError:
    return InsufficientStorageError(f"{reason}; nothing was stored.")


def store_unavailable(reason: str) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"{reason}; nothing was stored.", headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def os_storage_error(error: OSError) -> ServiceError | None:
    """The problem for a write that failed with ``error``, or None when it is not a storage fault.

    The detail names the errno, never the path: file names on the server are no client's business.
    """
    code = error.errno
    if code is None:
        return None
    name = errno.errorcode.get(code, str(code))
    if code in _FULL:
        return insufficient_storage(f"The data store is out of space ({name})")
    if code in _UNWRITABLE:
        return store_unavailable(f"The data store is not writable ({name})")
    return None


def sqlite_storage_error(error: sqlite3.Error) -> ServiceError | None:
    """The problem for a catalog statement that failed with ``error``, or None when it is not storage."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return None
    name = getattr(error, "sqlite_errorname", None) or str(code)
    primary = code & 0xFF
    if primary == sqlite3.SQLITE_FULL:
        return insufficient_storage(f"The catalog is out of space ({name})")
    if primary in _SQLITE_UNWRITABLE:
        return store_unavailable(f"The catalog is not writable ({name})")
    return None


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn an OSError that means "disk full" or "read-only" into its problem; others pass through."""
    try:
        yield
    except OSError as error:
        mapped = os_storage_error(error)
        if mapped is None:
            raise
        raise mapped from error


def ensure_free_space(directory: Path, min_free_bytes: int, incoming: int = 0) -> None:
    """Refuse (507) a write of ``incoming`` bytes that would leave less than ``min_free_bytes`` free.

    A reserve of 0 disables the check: the write then runs until the file system itself says ENOSPC.
    """
    if min_free_bytes <= 0:
        return
    with storage_errors():
        free = shutil.disk_usage(directory).free
    if free - incoming < min_free_bytes:
        raise insufficient_storage(
            f"Free space is below the reserve of {min_free_bytes} bytes ({free} bytes free, "
            f"{incoming} bytes to write)"
        )


def lowest_free_bytes(directories: Iterable[Path]) -> int:
    """The free space of the fullest of ``directories`` (they may sit on different file systems)."""
    return min(shutil.disk_usage(directory).free for directory in directories)
