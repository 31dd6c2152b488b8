"""Which job kinds and fit options go together: the rules JobCreate checks before anything is queued."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.api.job_options import BootstrapCreate, JobKind, KnockoffsCreate, StabilityCreate
from service.data.design import MissingPolicy
from service.errors import ValidationError
from service.modeling import CVMetric, Family

if TYPE_CHECKING:
    from service.api.schemas import JobCreate

# The part of a JobCreate that carries each selection kind's parameters.
KIND_OPTIONS = {
    JobKind.STABILITY: "stability",
    JobKind.KNOCKOFFS: "knockoffs",
    JobKind.BOOTSTRAP: "bootstrap",
}


def partitioned_refusals(job: JobCreate) -> dict[str, bool]:
    """Each request field a fit on a partitioned dataset does not support, and whether ``job`` uses it.

    The one list of them (what ``service.modeling.tall`` fits: gaussian and binomial lasso and
    elastic-net paths, weighted or not, and their CV by deviance, mse or misclassification, without
    missing values; a feature budget for gaussian only). The fit refuses the same in the worker.
    """
    cv = job.cv
    return {
        "kind": job.kind != JobKind.FIT,
        "family": job.family == Family.MULTINOMIAL,
        "relax": job.relax,
        "adaptive": job.adaptive is not None,
        "groups": job.groups is not None,
        "inference": job.inference,
        "missing": job.missing != MissingPolicy.ERROR,
        "max_features": job.family == Family.BINOMIAL and job.max_features is not None,
        "cv.fold_column": cv is not None and cv.fold_column is not None,
        "cv.metric": cv is not None and cv.metric in (CVMetric.MAE, CVMetric.AUC),
    }


def check_partitioned_job(job: JobCreate) -> None:
    """422 naming the first field of ``job`` that a fit on a partitioned dataset does not support."""
    for name, used in partitioned_refusals(job).items():
        if used:
            raise ValidationError(
                f"{name} is not available on a partitioned dataset",
                errors=[
                    {"loc": ["body", *name.split(".")], "msg": "partitioned dataset", "type": "value_error"}
                ],
            )


def check_kind_options(job: JobCreate) -> None:
    """ValueError (a 422 naming the fields) for a combination the service cannot honour.

    Fills in a selection kind's default parameters when the request left them out.
    """
    _check_kind(job)
    if job.kind == JobKind.STABILITY and job.alpha is not None:
        raise ValueError("stability selection runs over the path: leave alpha null")
    if job.kind == JobKind.KNOCKOFFS:
        _check_knockoffs(job)
    if job.relax:
        _check_relax(job)
    if job.inference:
        _check_inference(job)
    if job.groups is not None:
        _check_groups(job)
    if job.adaptive is not None and job.penalty == "ridge":
        raise ValueError("adaptive needs an l1 part: penalty lasso or elasticnet")


def _check_kind(job: JobCreate) -> None:
    """Each kind's parameters only with that kind (defaults filled in); fit options only with fit."""
    for kind, option in KIND_OPTIONS.items():
        if getattr(job, option) is not None and job.kind != kind:
            raise ValueError(f"`{option}` goes with kind {kind}, not kind {job.kind}")
    _fill_kind_defaults(job)
    if job.kind != JobKind.FIT:
        for fit_option in ("relax", "adaptive", "inference"):
            if getattr(job, fit_option):
                raise ValueError(f"`{fit_option}` is an option of kind fit, not of kind {job.kind}")


def _fill_kind_defaults(job: JobCreate) -> None:
    if job.kind == JobKind.STABILITY and job.stability is None:
        job.stability = StabilityCreate()
    if job.kind == JobKind.KNOCKOFFS and job.knockoffs is None:
        job.knockoffs = KnockoffsCreate()
    if job.kind == JobKind.BOOTSTRAP and job.bootstrap is None:
        job.bootstrap = BootstrapCreate()


def _check_knockoffs(job: JobCreate) -> None:
    if job.family == Family.MULTINOMIAL:
        raise ValueError("knockoffs need family gaussian or binomial")
    if job.penalty != "lasso":
        raise ValueError("knockoffs use lasso statistics: penalty must be lasso")
    if job.alpha is not None:
        raise ValueError("knockoffs choose alpha by CV on the augmented design: leave alpha null")
    if job.groups is not None or job.weights_column is not None or job.bounds:
        raise ValueError("knockoffs do not take groups, weights_column or bounds")


def _check_relax(job: JobCreate) -> None:
    if job.penalty == "ridge":
        raise ValueError("relax needs an l1 part: penalty lasso or elasticnet")
    if job.groups is not None:
        raise ValueError("relax does not combine with groups")
    if job.cv is not None and job.cv.l1_ratios is not None and len(job.cv.l1_ratios) > 1:
        raise ValueError("relax chooses gamma for one l1_ratio: give at most one cv.l1_ratios")


def _check_inference(job: JobCreate) -> None:
    if job.family != Family.GAUSSIAN or job.penalty != "lasso" or job.alpha is None:
        raise ValueError("inference needs family gaussian, penalty lasso and a fixed alpha")
    if job.weights_column is not None or job.bounds or job.groups is not None:
        raise ValueError("inference does not take weights_column, bounds or groups")
    if job.relax or job.adaptive is not None:
        raise ValueError("inference is for the plain lasso: not with relax or adaptive")


def _check_groups(job: JobCreate) -> None:
    assert job.groups is not None
    if job.family == Family.MULTINOMIAL:
        raise ValueError("groups need family gaussian or binomial")
    if job.penalty == "ridge":
        raise ValueError("groups need an l1 part: penalty lasso or elasticnet")
    if job.bounds:
        raise ValueError("groups do not combine with bounds")
    if job.adaptive is not None:
        raise ValueError("groups do not combine with adaptive")
    seen: dict[str, str] = {}
    factors = job.penalty_factors or {}
    for name, columns in job.groups.items():
        for column in columns:
            if column in seen:
                raise ValueError(f"column {column!r} is in groups {seen[column]!r} and {name!r}")
            seen[column] = name
        # The group's penalty is pf_g sqrt(|g|) ||b_g||: one factor for the whole group.
        if len({factors.get(column, 1.0) for column in columns}) > 1:
            raise ValueError(f"the columns of group {name!r} need equal penalty_factors")
