"""Routes for /v1/models: read, path, CV curve, predictions, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.datasets import Limit, Offset, ZeroBased
from service.api.deps import Services, ServicesDep, TenantDep
from service.api.documents import JSON_MEDIA_TYPE, model_json, models_page_json, path_json
from service.api.prediction_answer import prediction_response
from service.api.prediction_inline import artifact_now, predicts_inline
from service.api.prediction_input import PREDICTION_BODY, prediction_input
from service.api.problems import problem_responses
from service.api.schemas import CVRead, ModelList, ModelRead, PathRead, PredictionRead
from service.api.uploads import Delimiter, SvmlightOptions
from service.errors import NotFoundError
from service.plots import cv_svg, path_svg
from service.worker.artifact import ModelArtifact, describe_cv, describe_path

router = APIRouter(prefix="/v1/models", tags=["models"])


def _load_artifact(services: Services, model_id: str, tenant: str) -> ModelArtifact:
    # The checksum alone: a wide model's catalog summary is megabytes of JSON this read does not need.
    sha256 = services.catalog.model_sha256(model_id, tenant=tenant)
    return services.artifacts.load(model_id, sha256, tenant)


async def _artifact(services: Services, model_id: str, tenant: str) -> ModelArtifact:
    # On the loop when neither step can wait (a free catalog, a cached artifact); else both in a
    # thread: the catalog read may wait on a commit's fsync, a cold load reads and verifies a file.
    artifact = artifact_now(services, model_id, tenant)
    if artifact is not None:
        return artifact
    return await run_in_threadpool(_load_artifact, services, model_id, tenant)


# The JSON of these reads is written by service.api.documents (a wide model's is megabytes); the
# routes still declare their response models, which is what the OpenAPI document shows.
@router.get("", response_model=ModelList, responses=problem_responses(422))
def list_models(services: ServicesDep, tenant: TenantDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    models, total = services.catalog.list_models_text(limit, offset, tenant=tenant)
    return Response(models_page_json(models, total), media_type=JSON_MEDIA_TYPE)


@router.get("/{model_id}", response_model=ModelRead, responses=problem_responses(404))
def get_model(model_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    document = model_json(services.catalog.get_model_text(model_id, tenant=tenant))
    return Response(document, media_type=JSON_MEDIA_TYPE)


@router.get("/{model_id}/path", response_model=PathRead, responses=problem_responses(404, 422))
async def get_model_path(
    model_id: str,
    services: ServicesDep,
    tenant: TenantDep,
    features: Annotated[
        str | None,
        Query(
            min_length=1,
            description="Comma-separated names: only these coefficient paths. A name is a design column "
            "(`bmi`, `colour=red`) or a feature, which brings all its columns; an unknown name is a 422.",
        ),
    ] = None,
) -> Response:
    """The regularization path: alphas, selection counts, deviance ratios and coefficient paths."""
    artifact = await _artifact(services, model_id, tenant)
    return Response(await run_in_threadpool(path_json, artifact, features), media_type=JSON_MEDIA_TYPE)


@router.get("/{model_id}/cv", response_model=CVRead, responses=problem_responses(404))
async def get_model_cv(model_id: str, services: ServicesDep, tenant: TenantDep) -> CVRead:
    """The cross-validation curve with alpha_min and alpha_1se; 404 when the model had no CV."""
    artifact = await _artifact(services, model_id, tenant)
    document = describe_cv(artifact)
    if document is None:
        raise NotFoundError(f"Model {model_id} was fitted without cross-validation.")
    return CVRead.model_validate(document)


SVG = "image/svg+xml"
SVG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "An SVG image.", "content": {SVG: {"schema": {"type": "string"}}}}
}


@router.get(
    "/{model_id}/plots/path.svg",
    response_class=Response,
    responses={**SVG_RESPONSE, **problem_responses(404)},
)
async def get_model_path_plot(model_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """The coefficient paths against log10(alpha), as glmnet's plot draws them."""
    artifact = await _artifact(services, model_id, tenant)
    svg = await run_in_threadpool(_path_plot, artifact, services, model_id, tenant)
    return Response(svg, media_type=SVG)


@router.get(
    "/{model_id}/plots/cv.svg",
    response_class=Response,
    responses={**SVG_RESPONSE, **problem_responses(404)},
)
async def get_model_cv_plot(model_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """The CV curve with its standard errors, alpha_min and alpha_1se, and glmnet's top axis of the
    number of selected features; 404 when there was no CV."""
    artifact = await _artifact(services, model_id, tenant)
    svg = await run_in_threadpool(_cv_plot, artifact, services, model_id, tenant)
    return Response(svg, media_type=SVG)


def _model_label(services: Services, model_id: str, tenant: str) -> str:
    """What a plot's title calls the model: its name, as the page and the lists show it; else its id."""
    # Read after the artifact, which has already answered 404 for an unknown id or another tenant's.
    name = services.catalog.get_model_text(model_id, tenant=tenant).name
    return name or f"model {model_id}"


# The documents and their drawings are built together in a thread (the name's catalog read too):
# for a wide model the path document alone is one list per design column, too much for the event loop.
def _path_plot(artifact: ModelArtifact, services: Services, model_id: str, tenant: str) -> str:
    classes = None if artifact.classes is None else list(artifact.classes)
    label = _model_label(services, model_id, tenant)
    return path_svg(describe_path(artifact), model=label, classes=classes)


def _cv_plot(artifact: ModelArtifact, services: Services, model_id: str, tenant: str) -> str:
    document = describe_cv(artifact)
    if document is None:
        raise NotFoundError(f"Model {model_id} was fitted without cross-validation.")
    path = artifact.outcome.path
    # Only the counts for the top axis: the whole path document of a wide model is megabytes.
    counts = {"alphas": path.alphas.tolist(), "n_selected": path.n_selected.tolist()}
    return cv_svg(document, model=_model_label(services, model_id, tenant), path=counts)


@router.post(
    "/{model_id}/predictions",
    response_model=PredictionRead,
    openapi_extra=PREDICTION_BODY,
    responses=problem_responses(404, 413, 415, 422),
)
async def create_prediction(
    model_id: str,
    request: Request,
    services: ServicesDep,
    tenant: TenantDep,
    alpha: Annotated[
        float | None, Query(gt=0, description="Predict at this alpha of the stored path.")
    ] = None,
    zero_based: ZeroBased = False,
    delimiter: Delimiter = None,
) -> Response:
    """Predict from JSON rows or CSR (columns matched by name), a stored dataset, a CSV or svmlight body.

    JSON rows come as `columns` + `data` (pandas' split, its `index` ignored) or as a list of row
    objects (pandas' records); a CSV body takes `?delimiter=`; any body may be gzip-compressed.

    An svmlight body's features are ``x1`` ... ``xp`` as in an svmlight upload; its labels are ignored.
    More rows or cells than an upload may have is a 413 naming the limit.
    """
    artifact = await _artifact(services, model_id, tenant)
    options = SvmlightOptions(zero_based, services.table_limits)
    table, chosen_alpha = await prediction_input(
        request, services, tenant, artifact, alpha, options, delimiter
    )
    if predicts_inline(artifact, table):
        return prediction_response(artifact, table, chosen_alpha)
    # Predicting and writing the JSON in a thread too: for millions of rows both took seconds on the loop.
    return await run_in_threadpool(prediction_response, artifact, table, chosen_alpha)


@router.delete("/{model_id}", status_code=204, responses=problem_responses(404))
def delete_model(model_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    services.catalog.delete_model(model_id, tenant=tenant)
    services.artifacts.forget(model_id)
    services.models.delete(model_id)
    return Response(status_code=204)
