"""Translate a JobCreate into the domain specs: what to build from the table, and what to fit."""

from __future__ import annotations

from typing import Any

from service.api.schemas import JobCreate
from service.data.design import DesignSpec
from service.modeling.specs import AdaptiveInitial, AdaptiveSpec, CVSpec, FitSpec, PathSpec


def design_spec(job: JobCreate) -> DesignSpec:
    return DesignSpec(
        target=job.target,
        features=None if job.features is None else tuple(job.features),
        family=str(job.family),
        missing=job.missing,
        weights_column=job.weights_column,
        fold_column=None if job.cv is None else job.cv.fold_column,
        # By feature name: the worker spreads them over the design columns once the design is built.
        penalty_factors=tuple((job.penalty_factors or {}).items()),
        bounds=tuple((job.bounds or {}).items()),
    )


def fit_spec(job: JobCreate) -> FitSpec:
    cv = job.cv
    return FitSpec(
        family=job.family,
        l1_ratio=job.resolved_l1_ratio(),
        alpha=job.alpha,
        path=PathSpec(
            n_alphas=job.path.n_alphas,
            alpha_min_ratio=job.path.alpha_min_ratio,
            alphas=None if job.path.alphas is None else tuple(job.path.alphas),
        ),
        cv=None
        if cv is None
        else CVSpec(
            n_folds=cv.folds,
            seed=cv.seed,
            stratify=cv.stratify,
            metric=cv.metric,
            rule=cv.rule,
            l1_ratios=None if cv.l1_ratios is None else tuple(cv.l1_ratios),
        ),
        standardize=job.standardize,
        fit_intercept=job.fit_intercept,
        tol=job.solver.tol,
        max_iter=job.solver.max_iter,
        max_features=job.max_features,
        relax=job.relax,
        adaptive=None
        if job.adaptive is None
        else AdaptiveSpec(gamma=job.adaptive.gamma, initial=AdaptiveInitial(job.adaptive.initial)),
    )


def job_options(job: JobCreate) -> dict[str, Any]:
    """What a job needs beyond the design and FitSpec, as plain values: the selection kind's
    parameters, the groups by feature name (the worker numbers the design columns) and inference."""
    options: dict[str, Any] = {}
    for name in ("stability", "knockoffs", "bootstrap"):
        part = getattr(job, name)
        if part is not None:
            options[name] = part.model_dump(mode="python")
    if job.inference:
        options["inference"] = True
    if job.groups is not None:
        options["groups"] = {name: list(columns) for name, columns in job.groups.items()}
    return options


def normalised_request(job: JobCreate) -> dict[str, object]:
    """The request as stored on the job: defaults filled in, l1_ratio resolved from the penalty."""
    document = job.model_dump(mode="json")
    if job.penalty != "elasticnet" or job.l1_ratio is not None:
        document["l1_ratio"] = job.resolved_l1_ratio()
    return document
