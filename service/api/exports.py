"""The route that exports a model: GET /v1/models/{id}/export as ONNX or a JSON scoring document."""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import Services, ServicesDep, TenantDep
from service.api.export_schemas import ExportFormat, ScoringDocument
from service.api.problems import problem_responses
from service.export.onnx_graph import onnx_model_bytes
from service.export.scoring_document import scoring_document
from service.export.terms import export_terms

router = APIRouter(prefix="/v1/models", tags=["models"])

ONNX_MEDIA_TYPE = "application/onnx"
JSON_MEDIA_TYPE = "application/json"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An ONNX model (format=onnx) or a JSON scoring document (format=json).",
        "content": {ONNX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    **problem_responses(404, 422),
}


@router.get("/{model_id}/export", response_model=ScoringDocument, responses=EXPORT_RESPONSES)
async def get_model_export(
    model_id: str,
    services: ServicesDep,
    tenant: TenantDep,
    format: Annotated[ExportFormat, Query(description="`onnx` or `json`.")],
    alpha: Annotated[
        float | None, Query(gt=0, description="Export at this alpha of the stored path (as predictions).")
    ] = None,
) -> Response:
    """The model to score elsewhere: ONNX (one input per feature column) or a JSON scoring document.

    Both use the model's alpha (or ``alpha``, interpolated as predictions are), coefficients on the
    original scale, and the service's imputation and level encoding. A model with more feature
    columns than ONNX export takes is a 422 ``/problems/export-unsupported``; its JSON still works.
    """
    # In a thread: the catalog reads may wait on a commit, and a wide model's graph takes a while.
    body, disposition = await run_in_threadpool(_export, services, model_id, tenant, format, alpha)
    media_type = ONNX_MEDIA_TYPE if format is ExportFormat.ONNX else JSON_MEDIA_TYPE
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})


def _export(
    services: Services, model_id: str, tenant: str, format: ExportFormat, alpha: float | None
) -> tuple[bytes, str]:
    # The checksum read answers 404 for an unknown id or another tenant's model; the artifact comes
    # through the same verified cache as predictions.
    artifact = services.artifacts.load(
        model_id, services.catalog.model_sha256(model_id, tenant=tenant), tenant
    )
    name = services.catalog.get_model_text(model_id, tenant=tenant).name
    terms = export_terms(artifact, alpha, model_id=model_id, name=name)
    # onnx_model_bytes imports onnx (2 s) on the first ONNX export, never at start-up.
    body = onnx_model_bytes(terms) if format is ExportFormat.ONNX else orjson.dumps(scoring_document(terms))
    stem = _UNSAFE_FILENAME.sub("_", name or "").strip("._") or model_id
    return body, f'attachment; filename="{stem}.{format.value}"'
