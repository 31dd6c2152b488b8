"""Schemas of the selection resource (stability, knockoffs, bootstrap) and of the fit options' reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PerClass = float | list[float] | None


class SelectionFeatureRead(BaseModel):
    """One feature's (or, for knockoffs and bootstrap, one design column's) evidence."""

    feature: str
    probability: float | None = Field(
        default=None, description="stability: its maximum selection probability."
    )
    statistic: float | None = Field(default=None, description="knockoffs: W = |b_j| - |b~_j|.")
    frequency: float | None = Field(default=None, description="bootstrap: share of replicates selecting it.")
    estimate: PerClass = Field(default=None, description="bootstrap: the full-data coefficient.")
    mean: PerClass = Field(default=None, description="bootstrap: the replicates' mean coefficient.")
    lower: PerClass = Field(default=None, description="bootstrap: the percentile interval's lower end.")
    upper: PerClass = Field(default=None, description="bootstrap: the percentile interval's upper end.")


class FeatureSelectionRead(BaseModel):
    """A stored selection: which features, with the evidence and error bound of its procedure."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    job_id: str
    dataset_id: str
    target: str
    family: str | None = None
    selected: list[str]
    features: list[SelectionFeatureRead]
    created_at: str
    # stability
    threshold: float | None = Field(
        default=None, description="stability: the probability cut-off; knockoffs: the threshold T on W."
    )
    pfer: float | None = Field(default=None, description="stability: the target expected false selections.")
    pfer_bound: float | None = Field(
        default=None, description="stability: Meinshausen-Buhlmann's bound q^2 / ((2 threshold - 1) p)."
    )
    pfer_bound_ss: float | None = Field(
        default=None,
        description="stability: Shah-Samworth's bound under unimodality (null when it does not apply).",
    )
    q: float | None = Field(default=None, description="stability: average number selected per subsample.")
    alphas: list[float] | None = Field(default=None, description="stability: the path's alphas.")
    paths: dict[str, list[float]] | None = Field(
        default=None, description="stability: per feature ever selected, its probability at each alpha."
    )
    # knockoffs
    fdr: float | None = Field(default=None, description="knockoffs: the target false discovery rate.")
    method: str | None = Field(default=None, description="knockoffs: fixed-x or model-x, as used.")
    # bootstrap
    alpha: float | None = Field(default=None, description="bootstrap and knockoffs: the alpha fitted.")
    level: float | None = Field(default=None, description="bootstrap: the intervals' coverage.")
    replicates: int | None = None
    feature_frequency: dict[str, float] | None = Field(
        default=None, description="bootstrap: per original feature, the share of replicates selecting it."
    )
    frequency_path: dict[str, list[float]] | None = Field(
        default=None,
        description="bootstrap with `over_path`: per feature ever selected, its frequency at each alpha.",
    )
    versions: dict[str, str] | None = None


class FeatureSelectionList(BaseModel):
    items: list[FeatureSelectionRead]
    total: int


class RelaxRead(BaseModel):
    gamma: float = Field(description="The blend CV chose: gamma * lasso + (1 - gamma) * unpenalized refit.")
    gamma_min: float | None = Field(default=None, description="The gamma of the min rule's choice.")
    gamma_1se: float | None = Field(default=None, description="The gamma of the 1se rule's choice.")


class AdaptiveRead(BaseModel):
    gamma: float
    initial: str
    initial_alpha: float
    penalty_factors: dict[str, float | None] = Field(
        description="Per design column, the factor the path used; null for a column held at 0 "
        "(0 in the initial fit)."
    )
    excluded: list[str] = Field(default_factory=list, description="Columns held at 0 by the initial fit.")


class InferenceFeatureRead(BaseModel):
    feature: str
    coefficient: float = Field(description="The least-squares coefficient on the selected columns.")
    lasso_coefficient: float
    p_value: float
    lower: float | None
    upper: float | None


class InferenceRead(BaseModel):
    sigma: float = Field(description="The noise level used (estimated unless given).")
    sigma_method: str
    level: float
    features: list[InferenceFeatureRead]
