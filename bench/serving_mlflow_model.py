"""Run by bench/.venv-mlflow's python: save Sparsefit's lasso as an sklearn Lasso MLflow model.

Usage: python bench/serving_mlflow_model.py SPEC.json OUT_DIR. SPEC holds the columns, coefficients
and intercept Sparsefit reported, and sample rows; the Lasso gets exactly those numbers, so both
servers compute the same linear predictor. Only the standard library, pandas, scikit-learn and
mlflow: this file never imports the service.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import Lasso


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    columns: list[str] = spec["columns"]
    frame = pd.DataFrame(spec["rows"], columns=columns, dtype=np.float64)
    model = Lasso(alpha=1.0)
    # Fitted once so that scikit-learn records the feature names and counts, then given Sparsefit's
    # coefficients and intercept (on the original scale): the model MLflow serves is Sparsefit's.
    model.fit(frame, np.zeros(len(frame)))
    model.coef_ = np.asarray(spec["coefficients"], dtype=np.float64)
    model.intercept_ = float(spec["intercept"])
    # With a signature, as MLflow's documentation asks for: the server then checks the input schema.
    signature = infer_signature(frame, model.predict(frame))
    mlflow.sklearn.save_model(model, sys.argv[2], signature=signature)


if __name__ == "__main__":
    main()
