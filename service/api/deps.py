"""The long-lived objects routes need, built by the lifespan and reached through Annotated dependencies."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service import logs
from service.api.artifact_cache import ArtifactCache
from service.api.auth import KeyRing
from service.config import Settings
from service.data.limits import TableLimits
from service.data.schema import DatasetSchema
from service.jobs.executor import Executor
from service.jobs.manager import JobManager
from service.store.blobs import DatasetStore, ModelStore
from service.store.catalog import Catalog


@dataclass
class SchemaCache:
    """Indexed schemas of recently used datasets: a wide dataset's columns are decoded once, not per job.

    Keyed by dataset id alone: a dataset never changes and an id is never reused. Every load still
    asks the catalog whether ``tenant`` has the dataset, so a deleted one is a 404 at once.
    """

    catalog: Catalog
    capacity: int = 4
    _items: OrderedDict[str, tuple[str, DatasetSchema]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, dataset_id: str, tenant: str) -> tuple[str, DatasetSchema]:
        """The dataset's sha256 and schema; NotFoundError when ``tenant`` has no such dataset."""
        self.catalog.check_dataset(dataset_id, tenant)
        with self._lock:
            if dataset_id in self._items:
                self._items.move_to_end(dataset_id)
                return self._items[dataset_id]
        record = self.catalog.get_dataset(dataset_id, tenant)
        entry = record.sha256, DatasetSchema.of(record.columns, record.n_rows)
        with self._lock:
            self._items[record.id] = entry
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return entry


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    datasets: DatasetStore
    models: ModelStore
    artifacts: ArtifactCache
    pool: Executor
    manager: JobManager
    keys: KeyRing
    table_limits: TableLimits
    artifact_secret: bytes = field(repr=False)
    schemas: SchemaCache


# Both dependencies are coroutines although they never wait: FastAPI runs a plain function
# dependency in a thread, and on one core those two hops cost a small prediction a third of its time.
async def _services(request: Request) -> Services:
    return _services_of(request)


def _services_of(request: Request) -> Services:
    return cast(Services, request.state.services)


# Declares the bearer scheme in the OpenAPI document; the check itself is KeyRing.authenticate, so
# that a missing or wrong key gets our 401 problem rather than FastAPI's own 403.
_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from SPARSEFIT_API_KEYS; needed on every /v1 path when keys are configured.",
)


async def require_tenant(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The caller's tenant: the default one without keys, else the owner of the bearer key (or 401)."""
    tenant = _services_of(request).keys.authenticate(request.headers.get("authorization"))
    logs.add_fields(tenant=tenant)  # the request's log lines, its access line included, name it
    return tenant


ServicesDep = Annotated[Services, Depends(_services)]
TenantDep = Annotated[str, Depends(require_tenant)]
