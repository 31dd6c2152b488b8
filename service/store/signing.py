"""HMAC-SHA256 signatures on model files, so that only artifacts this service wrote are ever unpickled."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import BinaryIO

from service.errors import ArtifactRejectedError
from service.store.atomic import DigestingWriter

# A signed file is the pickled payload, then the 32-byte tag, then this marker. A trailer rather than a
# header lets the payload stream to disk: the tag is only known once the last byte is written.
MARKER = b"SFHMAC1\n"
TAG_SIZE = hashlib.sha256().digest_size
TRAILER_SIZE = TAG_SIZE + len(MARKER)
SECRET_FILE = "artifact.key"


class SigningWriter(DigestingWriter):
    """A write-only file proxy that signs every byte on its way to ``file``, then appends the trailer."""

    def __init__(self, file: BinaryIO, secret: bytes) -> None:
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        self._target = file
        super().__init__(file, self._mac)

    def finish(self) -> None:
        """Append the trailer: the tag over everything written so far, then the marker."""
        self._target.write(self._mac.digest() + MARKER)


def verified_payload(data: bytes, secret: bytes) -> memoryview:
    """The payload of a signed file; ArtifactRejectedError when the trailer is missing or wrong."""
    if len(data) < TRAILER_SIZE or data[-len(MARKER) :] != MARKER:
        raise ArtifactRejectedError("The model file carries no Sparsefit signature; it was not loaded.")
    payload = memoryview(data)[:-TRAILER_SIZE]
    tag = data[-TRAILER_SIZE : -len(MARKER)]
    expected = hmac.new(secret, payload, digestmod=hashlib.sha256).digest()
    if not hmac.compare_digest(expected, tag):
        raise ArtifactRejectedError(
            "The model file's signature does not verify (changed, or written with another secret); "
            "it was not loaded."
        )
    return payload


def load_or_create_secret(data_dir: Path) -> bytes:
    """The data dir's signing secret, generated on first start (32 random bytes, mode 0600).

    Created with O_EXCL so two processes starting at once agree on one secret.
    """
    path = data_dir / SECRET_FILE
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    secret = bytes.fromhex(path.read_text().strip())
    if len(secret) < 16:
        raise ValueError(f"{SECRET_FILE} in the data dir holds no usable secret; remove it to regenerate.")
    return secret
