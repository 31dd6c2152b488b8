"""The JSON scoring document: a model as plain numbers and rules that a short script can score."""

from __future__ import annotations

from typing import Any

from service.data.encoder import FeatureEncoding
from service.data.table import ColumnKind
from service.export.terms import ExportTerms
from service.modeling import Family

FORMAT = "sparsefit-scoring"
VERSION = 1
LINKS = {Family.GAUSSIAN: "identity", Family.BINOMIAL: "logit", Family.MULTINOMIAL: "softmax"}
# Written into the document, so that it explains itself to whoever finds it without the API page.
SCORING = (
    "eta[k] = intercepts[k] + sum over features of their terms. A numeric feature adds "
    "coefficients[k] * x, x replaced by impute when missing (impute null: no imputation, a missing "
    "value cannot be scored). A categorical feature adds levels[value][k]; a missing value or a level "
    "not listed adds nothing. identity: the prediction is eta[0]. logit: eta[0] is the log-odds of "
    "classes[1]; probabilities are [1 / (1 + exp(eta[0])), 1 / (1 + exp(-eta[0]))] and the prediction "
    "is classes[1] when eta[0] > 0, else classes[0]. softmax: probabilities are exp(eta[k] - m) / "
    "sum_j exp(eta[j] - m) with m = max_j eta[j], and the prediction is the class of the largest one "
    "(the first on a tie)."
)


def scoring_document(terms: ExportTerms) -> dict[str, Any]:
    """The document of ``terms``; every coefficient is a list of len(intercepts) numbers."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": {
            "id": terms.model_id,
            "name": terms.name,
            "target": terms.target,
            "alpha": terms.alpha,
            "l1_ratio": terms.l1_ratio,
        },
        "family": str(terms.family),
        "link": LINKS[terms.family],
        "missing": str(terms.missing),
        "classes": terms.classes,
        "intercepts": terms.intercept.tolist(),
        "features": [_feature(feature, rows.tolist()) for feature, rows in terms.blocks()],
        "scoring": SCORING,
    }


def _feature(feature: FeatureEncoding, rows: list[list[float]]) -> dict[str, Any]:
    if feature.kind is ColumnKind.NUMERIC:
        return {"name": feature.name, "kind": "numeric", "impute": feature.mean, "coefficients": rows[0]}
    levels = dict(zip(feature.levels, rows, strict=True))
    return {"name": feature.name, "kind": "categorical", "levels": levels}
