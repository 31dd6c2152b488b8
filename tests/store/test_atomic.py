"""Tests for atomic, checksummed writes: all or nothing, never a partial file, no temp litter."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import BinaryIO

import pytest

from service.store import atomic_write, atomic_write_bytes, sha256_file, sweep_temp_files

REPO_ROOT = Path(__file__).resolve().parents[2]


class _Boom(Exception):
    pass


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_bytes_returns_digest_of_content(tmp_path: Path) -> None:
    data = b"a,b\n1,2\n" * 1000
    digest = atomic_write_bytes(tmp_path / "x.bin", data)
    assert (tmp_path / "x.bin").read_bytes() == data
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data)
    assert _leftovers(tmp_path) == []


def test_atomic_write_digest_matches_file_with_many_writes(tmp_path: Path) -> None:
    def write(file: BinaryIO) -> None:
        for i in range(100):
            file.write(bytes([i]) * 777)
        file.write(memoryview(b"tail"))

    digest = atomic_write(tmp_path / "x.bin", write)
    assert digest == sha256_file(tmp_path / "x.bin")
    assert digest.size == 100 * 777 + 4


def test_atomic_write_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert _leftovers(tmp_path) == []


def test_atomic_write_failure_keeps_old_file_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old contents")

    def write_half_then_fail(file: BinaryIO) -> None:
        file.write(b"new but partial")
        file.flush()
        raise _Boom

    with pytest.raises(_Boom):
        atomic_write(target, write_half_then_fail)
    assert target.read_bytes() == b"old contents"
    assert _leftovers(tmp_path) == []


def test_atomic_write_failure_on_new_path_creates_nothing(tmp_path: Path) -> None:
    def write_half_then_fail(file: BinaryIO) -> None:
        file.write(b"partial")
        raise _Boom

    with pytest.raises(_Boom):
        atomic_write(tmp_path / "x.bin", write_half_then_fail)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_refuses_seek(tmp_path: Path) -> None:
    # A seek would make the running hash disagree with the file, so it must fail loudly.
    def write_and_seek(file: BinaryIO) -> None:
        file.write(b"abc")
        file.seek(0)

    with pytest.raises(OSError):
        atomic_write(tmp_path / "x.bin", write_and_seek)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_process_crash_never_exposes_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old contents")
    child = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from service.store import atomic_write

        def write(file):
            file.write(b"half of the new")
            file.flush()
            os._exit(0)  # the process dies mid-write, no cleanup runs

        atomic_write(Path({str(target)!r}), write)
        """
    )
    subprocess.run([sys.executable, "-c", child], cwd=REPO_ROOT, check=True, timeout=60)
    assert target.read_bytes() == b"old contents"
    leftovers = _leftovers(tmp_path)
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".x.bin.")

    removed = sweep_temp_files(tmp_path)
    assert [p.name for p in removed] == leftovers
    assert _leftovers(tmp_path) == []
    assert target.read_bytes() == b"old contents"


def test_sha256_file_streams_large_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000  # larger than one read chunk
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    digest = sha256_file(path)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data)
