"""Pydantic schemas of the HTTP contract: <Resource>Create bodies, <Resource>Read answers, Problem."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from service.api.job_options import AdaptiveCreate, BootstrapCreate, JobKind, KnockoffsCreate, StabilityCreate
from service.api.job_rules import check_kind_options
from service.api.selection_schemas import AdaptiveRead, InferenceRead, RelaxRead
from service.api.strict_schema import NUMBER_ONLY, JsonInt, Strict
from service.data.design import MissingPolicy
from service.modeling import CVMetric, Family, SelectionRule
from service.store.records import JobStatus

ID_PATTERN = r"^[0-9a-f]{32}$"
ColumnName = Annotated[str, Field(min_length=1, max_length=1000)]


PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
PenaltyFactor = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
BoundEnd = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def _bound_contains_zero(bound: tuple[float | None, float | None]) -> tuple[float | None, float | None]:
    """glmnet's rule: a box must contain 0 (lower <= 0 <= upper), so the null model stays feasible."""
    lower, upper = bound
    if lower is not None and lower > 0:
        raise ValueError("the lower bound must be <= 0 (or null for none)")
    if upper is not None and upper < 0:
        raise ValueError("the upper bound must be >= 0 (or null for none)")
    return bound


Bound = Annotated[tuple[BoundEnd | None, BoundEnd | None], AfterValidator(_bound_contains_zero)]


class Penalty(StrEnum):
    LASSO = "lasso"
    RIDGE = "ridge"
    ELASTICNET = "elasticnet"


PENALTY_L1_RATIO = {Penalty.LASSO: 1.0, Penalty.RIDGE: 0.0}
CLASSIFICATION_METRICS = {CVMetric.DEVIANCE, CVMetric.MISCLASSIFICATION, CVMetric.AUC}
GAUSSIAN_METRICS = {CVMetric.MSE, CVMetric.MAE, CVMetric.DEVIANCE}


class Problem(BaseModel):
    """RFC 9457 problem details; extension members such as `errors`, `expected`, `got` may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["/problems/not-found"])
    title: str
    status: int
    detail: str


class PathCreate(Strict):
    n_alphas: JsonInt = Field(default=100, ge=1, le=1000)
    alpha_min_ratio: float | None = Field(default=None, gt=0, lt=1, strict=True)
    alphas: list[PositiveFinite] | None = Field(default=None, min_length=1, max_length=1000)


class CVCreate(Strict):
    folds: JsonInt = Field(default=10, ge=2, le=1000)
    seed: JsonInt = Field(default=0, ge=0, le=2**32 - 1)
    stratify: bool | None = None
    fold_column: ColumnName | None = None
    metric: CVMetric | None = None
    rule: SelectionRule = SelectionRule.ONE_SE
    l1_ratios: list[Annotated[float, Field(ge=0, le=1, strict=True)]] | None = Field(
        default=None, min_length=1, max_length=20
    )


class SolverCreate(Strict):
    tol: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        strict=True,
        description=(
            "Convergence tolerance. gaussian: every solution's duality gap is at most tol times the "
            "variance of the target (scikit-learn's criterion), and a full pass of coordinate descent "
            "changes the objective by less than 1e-7 of it (glmnet's); binomial and multinomial: the "
            "largest KKT violation is at most tol. null: 1e-3 for gaussian, 1e-5 otherwise, at which "
            "solutions are at least as converged as glmnet's defaults; ask for 1e-8 or less for "
            "reference-grade coefficients."
        ),
    )
    max_iter: JsonInt = Field(default=100_000, ge=1, le=10_000_000)


class JobCreate(Strict):
    """A fit or selection job. Only `dataset_id` and `target` are required."""

    kind: JobKind = Field(
        default=JobKind.FIT,
        description="fit: a model; stability, knockoffs, bootstrap: a selection (`selection_id` on the job).",
    )
    name: str | None = Field(default=None, max_length=200)
    dataset_id: str = Field(min_length=1, max_length=100)
    target: ColumnName
    features: list[ColumnName] | None = Field(default=None, min_length=1)
    family: Family = Family.GAUSSIAN
    penalty: Penalty = Penalty.LASSO
    alpha: PositiveFinite | None = None
    l1_ratio: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False, strict=True)
    standardize: bool = True
    fit_intercept: bool = True
    penalty_factors: dict[ColumnName, PenaltyFactor] | None = Field(
        default=None,
        description="Per feature, a multiplier of its penalty (finite, >= 0; 0 leaves it unpenalized). "
        "A categorical feature's factor applies to each of its levels; features not named keep 1.",
    )
    bounds: dict[ColumnName, Bound] | None = Field(
        default=None,
        description="Per feature, `[lower, upper]` on its coefficients (original scale), either end null "
        "for none; lower <= 0 <= upper. A categorical feature's bounds apply to each of its levels.",
    )
    weights_column: ColumnName | None = None
    missing: MissingPolicy = MissingPolicy.ERROR
    path: PathCreate = Field(default_factory=PathCreate)
    cv: CVCreate | None = Field(default_factory=CVCreate)
    max_features: Annotated[int, Field(ge=1), NUMBER_ONLY] | None = Field(
        default=None,
        description="Select at most this many features (a categorical counts once): the path stops "
        "early and the CV rule chooses among the alphas that select at most this many (glmnet's dfmax).",
    )
    solver: SolverCreate = Field(default_factory=SolverCreate)
    max_runtime_s: PositiveFinite | None = Field(
        default=None, description="End the job after this many seconds (capped by the server's job timeout)."
    )
    stability: StabilityCreate | None = Field(default=None, description="kind stability: its parameters.")
    knockoffs: KnockoffsCreate | None = Field(default=None, description="kind knockoffs: its parameters.")
    bootstrap: BootstrapCreate | None = Field(default=None, description="kind bootstrap: its parameters.")
    relax: bool = Field(
        default=False,
        description="Relaxed lasso (glmnet's relax): the unpenalized refit on each active set, blended with "
        "the lasso by gamma in {0, 0.25, 0.5, 0.75, 1}; CV chooses alpha and gamma together.",
    )
    adaptive: AdaptiveCreate | None = Field(
        default=None, description="Adaptive lasso: penalty factors 1 / |b_j|^gamma from an initial CV fit."
    )
    groups: dict[ColumnName, Annotated[list[ColumnName], Field(min_length=1)]] | None = Field(
        default=None,
        description="Group lasso: named groups of feature columns, each in or out as a whole (a "
        "categorical brings all its levels; a categorical not named is a group of its levels, any other "
        "feature its own).",
    )
    inference: bool = Field(
        default=False,
        description="Gaussian lasso at a fixed `alpha`: selective p-values and confidence intervals "
        "(Lee, Sun, Sun and Taylor 2016) for the selected coefficients.",
    )

    @field_validator("features")
    @classmethod
    def _features_unique(cls, features: list[str] | None) -> list[str] | None:
        if features is not None and len(set(features)) != len(features):
            raise ValueError("features must not repeat a column")
        return features

    @field_validator("max_features")
    @classmethod
    def _room_for_unpenalized(cls, max_features: int | None, info: ValidationInfo) -> int | None:
        # An unpenalized feature is in every fit (unless its bounds pin it to 0), so no alpha could
        # keep fewer than that many: refuse now rather than fail the job later.
        factors = info.data.get("penalty_factors") or {}
        bounds = info.data.get("bounds") or {}
        free = [n for n, f in factors.items() if f == 0 and tuple(bounds.get(n, (None, None))) != (0, 0)]
        if max_features is not None and len(free) > max_features:
            raise ValueError(f"{len(free)} features have penalty factor 0 and are always selected")
        return max_features

    @model_validator(mode="after")
    def _consistent(self) -> JobCreate:
        self._check_penalty()
        if self.cv is not None:
            self._check_cv(self.cv)
        check_kind_options(self)
        return self

    def _check_penalty(self) -> None:
        fixed = PENALTY_L1_RATIO.get(self.penalty)
        if fixed is not None and self.l1_ratio is not None and not math.isclose(self.l1_ratio, fixed):
            raise ValueError(f"l1_ratio must be {fixed:g} (or null) for penalty {self.penalty}")
        if self.penalty == Penalty.ELASTICNET:
            tuned = self.cv is not None and self.cv.l1_ratios is not None
            if self.l1_ratio is None and not tuned:
                raise ValueError("penalty elasticnet needs l1_ratio in (0, 1) or cv.l1_ratios")
            if self.l1_ratio is not None and not 0 < self.l1_ratio < 1:
                raise ValueError("l1_ratio must lie strictly between 0 and 1 for penalty elasticnet")

    def _check_cv(self, cv: CVCreate) -> None:
        if cv.l1_ratios is not None and self.penalty != Penalty.ELASTICNET:
            raise ValueError("cv.l1_ratios needs penalty elasticnet")
        if cv.l1_ratios is not None and self.alpha is not None:
            raise ValueError("cv.l1_ratios chooses alpha too; leave alpha null")
        allowed = GAUSSIAN_METRICS if self.family == Family.GAUSSIAN else CLASSIFICATION_METRICS
        if cv.metric is not None and cv.metric not in allowed:
            raise ValueError(f"cv.metric {cv.metric} does not apply to family {self.family}")
        if cv.metric == CVMetric.AUC and self.family != Family.BINOMIAL:
            raise ValueError("cv.metric auc needs family binomial")
        if cv.stratify and self.family == Family.GAUSSIAN:
            raise ValueError("cv.stratify needs a classification family")

    def resolved_l1_ratio(self) -> float:
        fixed = PENALTY_L1_RATIO.get(self.penalty)
        if fixed is not None:
            return fixed
        if self.l1_ratio is not None:
            return self.l1_ratio
        assert self.cv is not None and self.cv.l1_ratios is not None  # guaranteed by _check_penalty
        return self.cv.l1_ratios[0]


class Progress(BaseModel):
    fraction: float
    stage: str
    message: str | None = None


class JobRead(BaseModel):
    id: str
    kind: str
    name: str | None
    status: JobStatus
    progress: Progress
    created_at: str
    started_at: str | None
    finished_at: str | None
    model_id: str | None
    selection_id: str | None = Field(
        default=None, description="The selection a stability, knockoffs or bootstrap job stored."
    )
    dataset_id: str
    error: Problem | None
    request: dict[str, Any]


def _sse_event(event: str, payload: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": event},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": f"#/components/schemas/{payload}"},
            },
        },
    }


# One Server-Sent Event of GET /v1/jobs/{id}/events, as an SSE parser reads it (Open API 3.1 has an
# event stream's `schema` describe each event): `progress` carries a Progress, `status` a JobRead.
JOB_EVENT_SCHEMA: dict[str, Any] = {
    "oneOf": [_sse_event("progress", "Progress"), _sse_event("status", "JobRead")]
}


class JobList(BaseModel):
    items: list[JobRead]
    total: int


class ColumnRead(BaseModel):
    name: str
    kind: str
    n_missing: int
    levels: list[str] | None = None


class SparseMatrixCreate(Strict):
    """A CSR matrix: row i holds `data[indptr[i]:indptr[i+1]]` in the 0-based columns
    `indices[indptr[i]:indptr[i+1]]`; every other cell is 0."""

    shape: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] = Field(
        description="[rows, columns]; columns equals the number of names in `columns`."
    )
    indptr: list[int] = Field(description="rows + 1 offsets into indices and data: 0 first, never down.")
    indices: list[int] = Field(description="The column of each stored value, each at most once per row.")
    data: list[float] = Field(description="The stored values, finite numbers.")


# A table body holds its cells one way or the other; written in JSON Schema so the document says so.
_ONE_TABLE_FORM: dict[str, Any] = {
    "oneOf": [
        {"required": ["columns", "data"], "properties": {"sparse": {"type": "null"}}},
        {"required": ["columns", "sparse"], "properties": {"data": {"type": "null"}}},
    ]
}


class DatasetCreate(Strict):
    """A table: rows in pandas' "split" orientation (`data`), or a CSR matrix (`sparse`), stored sparse."""

    model_config = ConfigDict(json_schema_extra=_ONE_TABLE_FORM)

    name: str | None = Field(default=None, max_length=200)
    columns: list[str] = Field(min_length=1)
    data: list[list[Any]] | None = None
    sparse: SparseMatrixCreate | None = None
    # pandas' to_json(orient="split") writes its row labels as `index`: taken as they come, unused.
    index: list[Any] | None = Field(default=None, description="Row labels (pandas' split JSON); ignored.")

    @model_validator(mode="after")
    def _one_form(self) -> DatasetCreate:
        if (self.data is None) == (self.sparse is None):
            raise ValueError("give either data or sparse")
        return self


class DatasetRegister(Strict):
    """An existing Parquet dataset registered by URL, where SPARSEFIT_DATASET_SOURCES allows it."""

    name: str | None = Field(default=None, max_length=200)
    source: str = Field(
        min_length=1,
        max_length=4096,
        description="One Parquet file, or a directory (prefix) whose `*.parquet` files, sorted by name, "
        "are the table in row order: an absolute path, `file:///...`, `s3://...` or `gs://...`. "
        "Only their footers are read; the files stay where they are.",
    )


class DatasetRead(BaseModel):
    id: str
    name: str | None
    n_rows: int
    n_columns: int
    columns: list[ColumnRead] = Field(
        description="The column summaries in table order: all of them, or for a wide table the first "
        "1,000 of a dataset's document and the first 100 of a list item (SPARSEFIT_DATASET_DOCUMENT_COLUMNS, "
        "SPARSEFIT_DATASET_LIST_COLUMNS)."
    )
    columns_truncated: bool = Field(
        default=False,
        description="Present, and true, only when `columns` holds the first columns alone: "
        "`GET /v1/datasets/{id}/columns` pages through all of them.",
    )
    columns_url: str | None = Field(
        default=None,
        description="Present only with `columns_truncated`: the page of columns that starts with the "
        "first one not shown.",
    )
    storage: Literal["dense", "sparse", "partitioned"] = Field(
        description="How the table is stored: `sparse` for svmlight and CSR uploads (never densified); "
        "`partitioned` for a tall numeric table kept as Parquet files that jobs read one at a time "
        "(`?storage=partitioned` uploads and datasets registered by `source`)."
    )
    density: float | None = Field(
        description="Nonzero cells / cells (a missing cell is not a nonzero, a categorical value is); "
        "null for a dataset stored before densities were recorded, and for a partitioned one."
    )
    partitions: int | None = Field(
        default=None,
        description="Present only for a partitioned dataset: its number of Parquet files.",
    )
    source: str | None = Field(
        default=None,
        description="Present only for a dataset registered by URL: the `source` it was registered "
        "from (its files stay there and are never deleted by the service).",
    )
    size_bytes: int
    sha256: str
    created_at: str


class DatasetList(BaseModel):
    items: list[DatasetRead]
    total: int


class ColumnList(BaseModel):
    """A page of a dataset's column summaries; `total` is the number of columns."""

    items: list[ColumnRead]
    total: int


class CoefficientRead(BaseModel):
    feature: str
    value: float | list[float]
    standardized: float | list[float]


class SelectionRead(BaseModel):
    rule: str
    alpha_min: float
    alpha_1se: float
    l1_ratio: float


class ConvergenceRead(BaseModel):
    converged: bool
    n_iter: int
    dual_gap: float | None


class ModelRead(BaseModel):
    id: str
    name: str | None
    job_id: str
    dataset_id: str
    created_at: str
    family: Family
    penalty: Penalty
    alpha: float
    l1_ratio: float
    target: str
    classes: list[str | int | float] | None
    intercept: float | list[float]
    coefficients: list[CoefficientRead]
    selected_features: list[str]
    metrics: dict[str, dict[str, float | None] | None]
    selection: SelectionRead | None
    convergence: ConvergenceRead
    versions: dict[str, str]
    relax: RelaxRead | None = Field(default=None, description="With `relax`: the gamma CV chose.")
    adaptive: AdaptiveRead | None = Field(default=None, description="With `adaptive`: the factors used.")
    inference: InferenceRead | None = Field(
        default=None, description="With `inference`: selective p-values and intervals."
    )
    groups: dict[str, list[str]] | None = Field(default=None, description="With `groups`: the groups fitted.")


class ModelList(BaseModel):
    items: list[ModelRead]
    total: int


class PathRead(BaseModel):
    alphas: list[float]
    l1_ratio: float
    n_selected: list[int]
    deviance_ratio: list[float]
    converged: list[bool]
    # null where the certificate is not a finite number (a fit stopped before it could be computed):
    # the path is written by orjson, which writes NaN as null.
    dual_gap: list[float | None]
    coefficients: dict[str, list[float] | list[list[float]]]


class CVCurveRead(BaseModel):
    metric: str
    l1_ratio: float
    alphas: list[float]
    mean: list[float | None]
    se: list[float | None]
    folds: list[list[float | None]]
    alpha_min: float
    alpha_1se: float


class RelaxedCurveRead(CVCurveRead):
    gamma: float


class CVRead(CVCurveRead):
    rule: str
    fold_ids: list[int]
    curves: list[CVCurveRead] | None = None
    relaxed_curves: list[RelaxedCurveRead] | None = Field(
        default=None, description="With `relax`: one curve per gamma (gamma 1 is the lasso's)."
    )


# PredictionCreate's `_one_source` rule written in JSON Schema, so that the document states it too.
_ONE_SOURCE: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["columns", "data"],
            "properties": {
                "columns": {"type": "array"},
                "data": {"type": "array"},
                "sparse": {"type": "null"},
                "dataset_id": {"type": "null"},
            },
        },
        {
            "required": ["columns", "sparse"],
            "properties": {
                "columns": {"type": "array"},
                "sparse": {"type": "object"},
                "data": {"type": "null"},
                "dataset_id": {"type": "null"},
            },
        },
        {
            "required": ["dataset_id"],
            "properties": {
                "dataset_id": {"type": "string"},
                "columns": {"type": "null"},
                "data": {"type": "null"},
                "sparse": {"type": "null"},
            },
        },
    ]
}


class PredictionCreate(Strict):
    """Rows to predict: `columns` + `data` or `sparse` (matched by name), or a stored `dataset_id`."""

    model_config = ConfigDict(json_schema_extra=_ONE_SOURCE)

    columns: list[str] | None = Field(default=None, min_length=1)
    data: list[list[Any]] | None = None
    sparse: SparseMatrixCreate | None = None
    dataset_id: str | None = Field(default=None, max_length=100)
    alpha: PositiveFinite | None = None
    # pandas' to_json(orient="split") writes its row labels as `index`: taken as they come, unused.
    index: list[Any] | None = Field(default=None, description="Row labels (pandas' split JSON); ignored.")

    @model_validator(mode="after")
    def _one_source(self) -> PredictionCreate:
        sources = [self.data is not None, self.sparse is not None, self.dataset_id is not None]
        if sum(sources) != 1:
            raise ValueError("give one of columns and data, columns and sparse, or dataset_id")
        if (self.columns is None) != (self.dataset_id is not None):
            raise ValueError("columns go with data or sparse, and not with dataset_id")
        return self


class PredictionRead(BaseModel):
    predictions: list[float | str | int]
    probabilities: list[list[float]] | None = None
    classes: list[str | int | float] | None = None


class VersionRead(BaseModel):
    sparsefit: str
    python: str
    numpy: str
    scipy: str
    scikit_learn: str = Field(alias="scikit-learn")
    pyarrow: str


class HealthRead(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
