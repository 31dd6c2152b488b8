"""Verified model artifacts kept in memory, bounded by bytes, so that predictions skip the file."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from service.errors import IntegrityError
from service.store.blobs import ModelStore
from service.worker.artifact import ModelArtifact

# (model id, the catalog's sha256 of its file, tenant): a file rewritten under the same id has
# another checksum in the catalog, so it can never be answered from an entry of the old one.
CacheKey = tuple[str, str, str]


@dataclass
class _Entry:
    artifact: ModelArtifact
    size: int


@dataclass
class ArtifactCache:
    """Least recently used artifacts whose file sizes add up to at most ``capacity_bytes``.

    Only an artifact that passed the store's checks (checksum, then HMAC, then unpickling) enters,
    so a file changed on disk is refused at its next cold load: on start-up, after eviction, or
    after :meth:`forget`. An artifact larger than the whole budget is served but not kept. The size
    is that of the signed file, a close proxy for the unpickled arrays (pickle protocol 5 stores
    them raw).

    Callers look the model up in the catalog (tenant and existence) before every load, so a deleted
    model is a 404 even if a request that raced its delete put it back here; such an entry is only
    dead weight until it ages out.
    """

    store: ModelStore
    capacity_bytes: int = 256 * 1024 * 1024
    _items: OrderedDict[CacheKey, _Entry] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, model_id: str, sha256: str, tenant: str) -> ModelArtifact:
        """The artifact of ``tenant``'s model ``model_id`` whose file has checksum ``sha256`` (the
        catalog's); on a miss the file must match that checksum and be signed for that id and tenant."""
        held = self.cached(model_id, sha256, tenant)
        if held is not None:
            return held
        key = (model_id, sha256, tenant)
        # Outside the lock: a cold load of a wide model takes a while and must not stall hits. Two
        # concurrent misses of one model both load it; the second insert replaces the first.
        artifact, size = self.store.load_sized(model_id, sha256, tenant=tenant)
        if not isinstance(artifact, ModelArtifact):
            raise IntegrityError(f"Model {model_id} is not a Sparsefit model artifact.")
        if size <= self.capacity_bytes:
            with self._lock:
                self._discard(key)
                self._items[key] = _Entry(artifact, size)
                self._bytes += size
                while self._bytes > self.capacity_bytes:
                    self._discard(next(iter(self._items)))
        return artifact

    def cached(self, model_id: str, sha256: str, tenant: str) -> ModelArtifact | None:
        """The artifact if it is held now (a hit counts as a use), else None; never touches the file."""
        key = (model_id, sha256, tenant)
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            self._items.move_to_end(key)
            return entry.artifact

    def forget(self, model_id: str) -> None:
        """Drop every entry of ``model_id`` (it was deleted)."""
        with self._lock:
            for key in [k for k in self._items if k[0] == model_id]:
                self._discard(key)

    def _discard(self, key: CacheKey) -> None:
        entry = self._items.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    @property
    def size_bytes(self) -> int:
        """The summed file sizes of the artifacts held now."""
        return self._bytes

    def cached_ids(self) -> list[str]:
        """The model ids held now, least recently used first."""
        with self._lock:
            return [key[0] for key in self._items]
