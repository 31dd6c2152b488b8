"""Atomic, durable, checksummed file writes: a reader sees the old file or the new one, never a part."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from service.store.space import ensure_free_space, storage_errors

_CHUNK = 1024 * 1024
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class FileDigest:
    """The SHA-256 (lowercase hex) and size in bytes of a file's contents."""

    sha256: str
    size: int


class Hasher(Protocol):
    """What hashlib and hmac objects share: fed bytes, asked for a digest."""

    def update(self, data: memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


class DigestingWriter:
    """A write-only file proxy that feeds every byte into ``hasher`` on its way to the real file.

    Hashing while writing avoids reading a large file back. Seeking is refused because bytes
    overwritten after a seek would make the running hash wrong; ``tell`` is kept because joblib uses
    it to align numpy arrays.
    """

    def __init__(self, file: BinaryIO, hasher: Hasher) -> None:
        self._file = file
        self._hash = hasher
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        written = self._file.write(view)
        # A raw file may write fewer bytes; hash exactly what reached the file.
        self._hash.update(view[:written])
        self._size += written
        return written

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        self._file.flush()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("an atomic write is append-only")

    @property
    def closed(self) -> bool:
        return self._file.closed

    def digest(self) -> FileDigest:
        return FileDigest(sha256=self._hash.hexdigest(), size=self._size)


def atomic_write(
    path: Path, write: Callable[[BinaryIO], None], *, min_free_bytes: int = 0, size: int = 0
) -> FileDigest:
    """Replace ``path`` with what ``write`` writes, atomically and durably; return its digest.

    The bytes go to a hidden temp file in the same directory (``os.replace`` is only atomic within
    one file system), which is fsynced, renamed onto ``path``, and then the directory is fsynced so
    the rename itself survives a power loss. On any exception the temp file is removed and ``path``
    keeps its previous contents.

    Nothing is written when the free space minus ``size`` (the bytes about to be written, 0 when not
    known) is below ``min_free_bytes``: InsufficientStorageError (507). A full disk during the write
    is the same 507, a read-only or forbidden one StoreUnavailableError (503).
    """
    ensure_free_space(path.parent, min_free_bytes, size)
    with storage_errors():
        fd, tmp_name = tempfile.mkstemp(
            prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as file:
                writer = DigestingWriter(file, hashlib.sha256())
                write(cast(BinaryIO, writer))
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        _fsync_directory(path.parent)
    return writer.digest()


def atomic_write_bytes(path: Path, data: bytes, *, min_free_bytes: int = 0) -> FileDigest:
    """``atomic_write`` of a bytes object."""

    def write(file: BinaryIO) -> None:
        file.write(data)

    return atomic_write(path, write, min_free_bytes=min_free_bytes, size=len(data))


def sha256_file(path: Path) -> FileDigest:
    """The digest of a file, read in chunks so a large file never sits in memory whole."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(sha256=digest.hexdigest(), size=size)


def is_temp_file(path: Path) -> bool:
    """Whether ``path`` is named like an ``atomic_write`` temp file."""
    return path.name.startswith(TEMP_PREFIX) and path.name.endswith(TEMP_SUFFIX)


def probe_writable(directory: Path) -> None:
    """Readiness: create, fsync and remove a one-byte file in ``directory``, or raise its storage problem.

    The probe is named like an ``atomic_write`` temp file, so one left by a crash in between is
    removed by the start-up sweep like any other.
    """
    with storage_errors():
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}readyz.", suffix=TEMP_SUFFIX, dir=directory)
        try:
            os.write(fd, b"\0")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
