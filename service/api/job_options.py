"""The JobCreate parts of the selection jobs (stability, knockoffs, bootstrap) and of the fit options."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from service.api.strict_schema import JsonInt, Strict

Seed = Annotated[JsonInt, Field(ge=0, le=2**32 - 1)]


class JobKind(StrEnum):
    FIT = "fit"
    STABILITY = "stability"
    KNOCKOFFS = "knockoffs"
    BOOTSTRAP = "bootstrap"


class StabilityCreate(Strict):
    """Stability selection by complementary pairs subsampling (Shah & Samworth 2013) over the path."""

    n_pairs: JsonInt = Field(
        default=50, ge=1, le=500, description="Subsample pairs: 2 x n_pairs lasso paths."
    )
    fraction: float = Field(
        default=0.5, gt=0, le=0.5, strict=True, description="Rows per subsample, as a fraction of all rows."
    )
    threshold: float | None = Field(
        default=None,
        gt=0.5,
        lt=1,
        strict=True,
        description="A feature is stable when its selection probability reaches this; excludes `pfer`.",
    )
    pfer: float | None = Field(
        default=None,
        gt=0,
        strict=True,
        allow_inf_nan=False,
        description="Target expected number of false selections; excludes `threshold`. Default 1.",
    )
    seed: Seed = 0

    @model_validator(mode="after")
    def _one_rule(self) -> StabilityCreate:
        if self.threshold is not None and self.pfer is not None:
            raise ValueError("give one of threshold and pfer, not both")
        if self.threshold is None and self.pfer is None:
            self.pfer = 1.0
        return self


class KnockoffsCreate(Strict):
    """The knockoff filter at target false discovery rate `fdr` (Barber & Candes 2015; Candes et al. 2018)."""

    fdr: float = Field(default=0.1, gt=0, lt=1, strict=True, description="Target false discovery rate q.")
    method: Literal["auto", "fixed-x", "model-x"] = Field(
        default="auto", description="auto: fixed-X knockoffs when rows >= 2 x features, model-X otherwise."
    )
    offset: Literal[0, 1] = Field(default=1, description="1: knockoff+ (controls the FDR); 0: knockoff.")
    seed: Seed = 0


class BootstrapCreate(Strict):
    """Pairs bootstrap at the chosen alpha (or over the path): selection frequencies and intervals."""

    replicates: JsonInt = Field(default=100, ge=2, le=10_000)
    level: float = Field(default=0.95, gt=0, lt=1, strict=True, description="Coverage of the intervals.")
    seed: Seed = 0
    over_path: bool = Field(
        default=False,
        description="Also refit every replicate over the full data's alpha grid and report each "
        "feature's selection frequency at every alpha (`frequency_path`).",
    )


class AdaptiveCreate(Strict):
    """Adaptive lasso (Zou 2006): penalty factors 1 / |b_j|^gamma from a CV-chosen initial fit."""

    gamma: float = Field(default=1.0, gt=0, le=10, strict=True)
    initial: Literal["ridge", "lasso"] = "ridge"
