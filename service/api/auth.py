"""API keys: parse the configured `tenant:key` pairs and resolve a request's bearer token to its tenant."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from service.config import Settings
from service.errors import UnauthorizedError
from service.store.records import DEFAULT_TENANT

# Tenants name objects in the catalog and in logs, so they are kept to a plain, printable alphabet.
_TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_CHALLENGE = 'Bearer realm="sparsefit"'


class KeyConfigError(ValueError):
    """The configured keys cannot be used; the message names the entry, never the key."""


@dataclass(frozen=True)
class TenantKey:
    """One accepted key, kept only as the SHA-256 of its bytes."""

    tenant: str
    digest: bytes


@dataclass(frozen=True)
class KeyRing:
    """Every accepted key; an empty ring means the service runs open, with one default tenant."""

    keys: tuple[TenantKey, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    @property
    def tenants(self) -> frozenset[str]:
        return frozenset(key.tenant for key in self.keys)

    def tenant_for(self, token: str) -> str | None:
        """The tenant owning ``token``, or None.

        Every key is compared, with ``hmac.compare_digest`` on fixed-length digests, so the time taken
        says nothing about which key (or how much of one) matched.
        """
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: str | None = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest):
                found = key.tenant
        return found

    def authenticate(self, authorization: str | None) -> str:
        """The caller's tenant from an ``Authorization`` header value; UnauthorizedError otherwise."""
        if not self.enabled:
            return DEFAULT_TENANT
        if not authorization:
            raise UnauthorizedError(
                "This endpoint needs an API key: send `Authorization: Bearer <key>`.",
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        scheme, _, token = authorization.partition(" ")
        tenant = self.tenant_for(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if tenant is None:
            raise UnauthorizedError(
                "The Authorization header does not carry a valid API key (expected `Bearer <key>`).",
                headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
            )
        return tenant


def _parse_entry(entry: str, where: str, *, allow_digest: bool) -> TenantKey:
    tenant, separator, secret = entry.partition(":")
    tenant = tenant.strip()
    if not separator or not secret.strip():
        raise KeyConfigError(f"{where}: expected `tenant:key`.")
    if not _TENANT_PATTERN.fullmatch(tenant):
        raise KeyConfigError(f"{where}: tenant names are 1-64 letters, digits, '_', '.' or '-'.")
    secret = secret.strip()
    if allow_digest and secret.startswith("sha256:"):
        hex_digest = secret.removeprefix("sha256:").lower()
        if not _SHA256_PATTERN.fullmatch(hex_digest):
            raise KeyConfigError(f"{where}: `sha256:` must be followed by 64 hex digits.")
        return TenantKey(tenant, bytes.fromhex(hex_digest))
    if len(secret) < 8:
        raise KeyConfigError(f"{where}: a key must have at least 8 characters.")
    return TenantKey(tenant, hashlib.sha256(secret.encode()).digest())


def _file_entries(path: Path) -> list[TenantKey]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise KeyConfigError(f"SPARSEFIT_API_KEYS_FILE cannot be read ({error.strerror}).") from None
    return [
        _parse_entry(line.strip(), f"SPARSEFIT_API_KEYS_FILE line {number}", allow_digest=True)
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def load_key_ring(settings: Settings) -> KeyRing:
    """The keys from SPARSEFIT_API_KEYS and SPARSEFIT_API_KEYS_FILE (both may be given)."""
    keys: list[TenantKey] = []
    if settings.api_keys is not None:
        entries = [e for e in settings.api_keys.get_secret_value().split(",") if e.strip()]
        keys += [
            _parse_entry(e, f"SPARSEFIT_API_KEYS entry {i}", allow_digest=False)
            for i, e in enumerate(entries, start=1)
        ]
    if settings.api_keys_file is not None:
        keys += _file_entries(settings.api_keys_file)
    digests = [key.digest for key in keys]
    if len(set(digests)) != len(digests):
        raise KeyConfigError("The same API key is configured twice; each key belongs to one tenant.")
    return KeyRing(tuple(keys))


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, ring: KeyRing) -> None:
    """Refuse to serve a non-loopback address without keys unless the operator said so explicitly."""
    if not ring.enabled and not settings.allow_anonymous and not is_loopback(settings.host):
        raise KeyConfigError(
            f"Refusing to listen on {settings.host} without API keys: anyone who can reach it could "
            "read and delete every dataset and model. Set SPARSEFIT_API_KEYS or SPARSEFIT_API_KEYS_FILE, "
            "or set SPARSEFIT_ALLOW_ANONYMOUS=true to serve it open on purpose."
        )
