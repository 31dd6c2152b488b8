"""HMAC-SHA256 signatures on model files, so that only artifacts this service wrote are ever unpickled."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from service.errors import ArtifactRejectedError
from service.store.atomic import DigestingWriter

# A signed file is the pickled payload, then the 32-byte tag, then a marker naming the version. A
# trailer rather than a header lets the payload stream to disk: the tag is known after the last byte.
# Version 1 signs the payload alone. Version 2 (every file written since issue 11) signs the model id
# and the tenant before it, so a genuine file copied over another model's, of the same tenant or of
# another, does not verify there. Version 1 files still load, wherever they lie: nothing in them says
# which model they were written for, so they cannot be bound after the fact, and until its model is
# refit such a file stays open to that copy (by someone who can write the data dir and the catalog).
MARKER = b"SFHMAC1\n"
MARKER_V2 = b"SFHMAC2\n"
TAG_SIZE = hashlib.sha256().digest_size
TRAILER_SIZE = TAG_SIZE + len(MARKER)
SECRET_FILE = "artifact.key"
# Version 2 tags use a key derived from the secret, so no version-1 tag is ever a valid version-2 tag
# (or the reverse) for some rearrangement of the same bytes.
_V2_KEY_LABEL = b"sparsefit model file v2"


@dataclass(frozen=True)
class Binding:
    """Whose model file this is: a version-2 signature covers both, so it verifies only for them."""

    model_id: str
    tenant: str

    def header(self) -> bytes:
        """The bytes signed before the payload: each part length-prefixed, so no two bindings collide."""
        parts = (self.model_id.encode(), self.tenant.encode())
        return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def _v2_mac(secret: bytes, binding: Binding) -> hmac.HMAC:
    key = hmac.new(secret, _V2_KEY_LABEL, digestmod=hashlib.sha256).digest()
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(binding.header())
    return mac


class SigningWriter(DigestingWriter):
    """A write-only file proxy that signs every byte on its way to ``file``, then appends the trailer.

    With a ``binding`` it writes version 2; without, version 1 (kept so that tests can make one).
    """

    def __init__(self, file: BinaryIO, secret: bytes, binding: Binding | None = None) -> None:
        if binding is None:
            self._mac, self._marker = hmac.new(secret, digestmod=hashlib.sha256), MARKER
        else:
            self._mac, self._marker = _v2_mac(secret, binding), MARKER_V2
        self._target = file
        super().__init__(file, self._mac)

    def finish(self) -> None:
        """Append the trailer: the tag over everything written so far, then the marker."""
        self._target.write(self._mac.digest() + self._marker)


def verified_payload(data: bytes, secret: bytes, binding: Binding) -> memoryview:
    """The payload of a file signed for ``binding`` (or of a version-1 file, which binds nothing);
    ArtifactRejectedError when the trailer is missing or does not verify."""
    marker = data[-len(MARKER) :]
    if len(data) < TRAILER_SIZE or marker not in (MARKER, MARKER_V2):
        raise ArtifactRejectedError("The model file carries no Sparsefit signature; it was not loaded.")
    payload = memoryview(data)[:-TRAILER_SIZE]
    tag = data[-TRAILER_SIZE : -len(MARKER)]
    if marker == MARKER:
        mac = hmac.new(secret, payload, digestmod=hashlib.sha256)
    else:
        mac = _v2_mac(secret, binding)
        mac.update(payload)
    if not hmac.compare_digest(mac.digest(), tag):
        raise ArtifactRejectedError(
            "The model file's signature does not verify (changed, written with another secret, or "
            "signed for another model or tenant); it was not loaded."
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
