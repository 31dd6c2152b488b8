"""Pydantic schemas of the export route: its format choice and the JSON scoring document it returns."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from service.modeling import Family

# Kept beside the one route that uses them: schemas.py is already the contract's longest module.


class ExportFormat(StrEnum):
    ONNX = "onnx"
    JSON = "json"


class ScoringModel(BaseModel):
    id: str
    name: str | None
    target: str
    alpha: float = Field(description="The alpha the coefficients belong to.")
    l1_ratio: float


class ScoringNumericFeature(BaseModel):
    name: str
    kind: Literal["numeric"]
    impute: float | None = Field(
        description="The value a missing cell takes (the training mean); null under missing: error."
    )
    coefficients: list[float] = Field(description="One per entry of `intercepts`.")


class ScoringCategoricalFeature(BaseModel):
    name: str
    kind: Literal["categorical"]
    levels: dict[str, list[float]] = Field(
        description="Each training level's coefficients, one per entry of `intercepts`; a missing "
        "value or an unlisted level adds nothing."
    )


class ScoringDocument(BaseModel):
    """A model as numbers and rules: `scoring` says how to score a row with them."""

    format: Literal["sparsefit-scoring"]
    version: Literal[1]
    model: ScoringModel
    family: Family
    link: Literal["identity", "logit", "softmax"]
    missing: Literal["error", "mean"]
    classes: list[str | int | float] | None
    intercepts: list[float] = Field(
        description="1 for gaussian and binomial (class 1's log-odds), K for multinomial."
    )
    features: list[ScoringNumericFeature | ScoringCategoricalFeature]
    scoring: str
