"""Routes for /v1/selections: the stored outcome of stability, knockoffs and bootstrap jobs."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from service.api.datasets import Limit, Offset
from service.api.deps import ServicesDep, TenantDep
from service.api.documents import JSON_MEDIA_TYPE
from service.api.models import SVG, SVG_RESPONSE
from service.api.problems import problem_responses
from service.api.selection_schemas import FeatureSelectionList, FeatureSelectionRead
from service.errors import NotFoundError
from service.plots.stability import stability_svg
from service.store.records import SelectionRecord

router = APIRouter(prefix="/v1/selections", tags=["selections"])


def selection_document(record: SelectionRecord) -> dict[str, Any]:
    """The FeatureSelectionRead of ``record``: its ids, then the summary its job stored."""
    return {
        **record.summary,
        "id": record.id,
        "kind": record.kind,
        "job_id": record.job_id,
        "dataset_id": record.dataset_id,
        "created_at": record.created_at,
    }


def _json(document: Any) -> Response:
    # orjson writes a non-finite number as null, as the catalog stored it.
    return Response(orjson.dumps(document), media_type=JSON_MEDIA_TYPE)


@router.get("", response_model=FeatureSelectionList, responses=problem_responses(422))
def list_selections(
    services: ServicesDep, tenant: TenantDep, limit: Limit = 50, offset: Offset = 0
) -> Response:
    """The tenant's selections, newest first."""
    records, total = services.catalog.list_selections(limit, offset, tenant=tenant)
    return _json({"items": [selection_document(r) for r in records], "total": total})


@router.get("/{selection_id}", response_model=FeatureSelectionRead, responses=problem_responses(404))
def get_selection(selection_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """One selection: the selected features, each feature's evidence, and the procedure's bound."""
    return _json(selection_document(services.catalog.get_selection(selection_id, tenant=tenant)))


@router.delete("/{selection_id}", status_code=204, responses=problem_responses(404))
def delete_selection(selection_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    services.catalog.delete_selection(selection_id, tenant=tenant)
    return Response(status_code=204)


@router.get(
    "/{selection_id}/plots/stability.svg",
    response_class=Response,
    responses={**SVG_RESPONSE, **problem_responses(404)},
)
async def get_stability_plot(selection_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """The stability path: each feature's selection probability against alpha, the threshold, the
    stable features labelled; 404 for a selection of another kind."""
    record = await run_in_threadpool(services.catalog.get_selection, selection_id, tenant)
    if record.kind != "stability":
        raise NotFoundError(
            f"Selection {selection_id} is a {record.kind} selection; only stability draws a path."
        )
    title = f"Stability path of {record.summary.get('target', 'the target')}"
    svg = await run_in_threadpool(stability_svg, record.summary, title=title)
    return Response(svg, media_type=SVG)
