"""Model: a trained model on the service, its coefficients, path, CV curve, plots, predictions, export."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from sparsefit import frames
from sparsefit.optional import require
from sparsefit.svg import SVG
from sparsefit.uploads import (
    CSV,
    PARQUET,
    SVMLIGHT,
    Body,
    file_body,
    frame_document,
    is_table_path,
    json_body,
    row_count,
    row_slice,
    table_document,
)

if TYPE_CHECKING:
    from sparsefit.transport import Http

# A prediction body is JSON, held by the service to SPARSEFIT_MAX_JSON_BYTES (32 MiB by default):
# a larger table is sent in slices of rows whose bodies stay well under it.
PREDICTION_CHUNK_BYTES = 8 * 1024 * 1024


class Model:
    """A trained model (the service's ModelRead in ``info``), with reads and uses of it."""

    def __init__(self, http: Http, info: dict[str, Any]) -> None:
        self._http = http
        self.info = info

    def __repr__(self) -> str:
        named = f" {self.name!r}" if self.name else ""
        fit = f"{self.family} {self.penalty}, alpha={self.alpha:.4g}"
        return f"<Model {self.id}{named}: {fit}, {len(self.selected_features)} selected>"

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def name(self) -> str | None:
        return self.info.get("name")

    @property
    def target(self) -> str:
        return str(self.info["target"])

    @property
    def family(self) -> str:
        return str(self.info["family"])

    @property
    def penalty(self) -> str:
        return str(self.info["penalty"])

    @property
    def alpha(self) -> float:
        return float(self.info["alpha"])

    @property
    def l1_ratio(self) -> float | None:
        return self.info.get("l1_ratio")

    @property
    def classes(self) -> list[Any] | None:
        return self.info.get("classes")

    @property
    def intercept(self) -> float | list[float]:
        value: float | list[float] = self.info["intercept"]
        return value

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.info.get("metrics") or {})

    @property
    def coefficients(self) -> Any:
        """Coefficients on the original scale by design column: a pandas Series (a DataFrame by class
        for multinomial) when pandas is installed, a dict otherwise. The intercept is ``intercept``."""
        return frames.coefficients(self.info)

    @property
    def standardized_coefficients(self) -> Any:
        """The coefficients of the standardized columns, in the same form as ``coefficients``."""
        return frames.coefficients(self.info, key="standardized")

    @property
    def selected_features(self) -> list[str]:
        """The original columns with a nonzero coefficient (a categorical when any of its levels has)."""
        return list(self.info["selected_features"])

    def path(self, features: list[str] | None = None) -> Any:
        """The regularization path: a DataFrame of coefficients by alpha with pandas, the document else."""
        params = {"features": ",".join(features)} if features else None
        document = self._http.json("GET", f"/v1/models/{self.id}/path", params=params)
        return frames.path_table(document, self.classes)

    def cv(self) -> Any:
        """The CV curve (mean and se by alpha) with pandas, the document else; the error says when the
        model was fitted without cross-validation."""
        return frames.cv_table(self._http.json("GET", f"/v1/models/{self.id}/cv"))

    def predict(self, data: object, alpha: float | None = None, columns: list[str] | None = None) -> Any:
        """Predictions for a frame (a Series with its index), an array or sparse matrix (an array, with
        columns named by ``columns`` or x1 ... xp), or a CSV, Parquet or svmlight file (an array)."""
        return frames.predictions(self.predictions(data, alpha, columns)["predictions"], data, self.target)

    def predict_proba(
        self, data: object, alpha: float | None = None, columns: list[str] | None = None
    ) -> Any:
        """Class probabilities of a classification model, one column per class."""
        answer = self.predictions(data, alpha, columns)
        if answer.get("probabilities") is None:
            raise ValueError(f"a {self.family} model gives no probabilities")
        return frames.probabilities(answer["probabilities"], answer["classes"], data)

    def predictions(
        self, data: object, alpha: float | None = None, columns: list[str] | None = None
    ) -> dict[str, Any]:
        """The service's answer as is: `predictions`, and `probabilities` and `classes` for a classifier."""
        params = {"alpha": alpha} if alpha is not None else None
        if is_table_path(data):
            body = _file_prediction_body(data)
            return self._post_prediction(body, params)
        body = json_body(table_document(data, columns))
        n_rows = row_count(data)
        if len(body.content) <= PREDICTION_CHUNK_BYTES or n_rows is None or n_rows < 2:
            return self._post_prediction(body, params)
        return self._predict_in_slices(data, n_rows, len(body.content), params, columns)

    def _predict_in_slices(
        self, data: object, n_rows: int, size: int, params: dict[str, Any] | None, columns: list[str] | None
    ) -> dict[str, Any]:
        step = max(1, n_rows // math.ceil(size / PREDICTION_CHUNK_BYTES))
        merged: dict[str, Any] = {"predictions": []}
        for start in range(0, n_rows, step):
            piece = json_body(table_document(row_slice(data, start, start + step), columns))
            answer = self._post_prediction(piece, params)
            merged["predictions"].extend(answer["predictions"])
            if answer.get("probabilities") is not None:
                merged.setdefault("probabilities", []).extend(answer["probabilities"])
                merged["classes"] = answer["classes"]
        return merged

    def _post_prediction(self, body: Body, params: dict[str, Any] | None) -> dict[str, Any]:
        path = f"/v1/models/{self.id}/predictions"
        answer: dict[str, Any] = self._http.json("POST", path, params=params, **body.request())
        return answer

    def plot_path(self, file: str | os.PathLike[str] | None = None) -> SVG:
        """The coefficient path plot; written to ``file`` when given, shown inline in a notebook."""
        return self._plot("path", file)

    def plot_cv(self, file: str | os.PathLike[str] | None = None) -> SVG:
        """The CV curve plot with alpha_min and alpha_1se marked."""
        return self._plot("cv", file)

    def _plot(self, which: str, file: str | os.PathLike[str] | None) -> SVG:
        response = self._http.request("GET", f"/v1/models/{self.id}/plots/{which}.svg")
        svg = SVG(response.text)
        if file is not None:
            svg.save(file)
        return svg

    @overload
    def export(
        self, format: Literal["onnx"] = "onnx", file: str | os.PathLike[str] | None = None
    ) -> bytes: ...

    @overload
    def export(
        self, format: Literal["json"], file: str | os.PathLike[str] | None = None
    ) -> dict[str, Any]: ...

    def export(
        self, format: Literal["onnx", "json"] = "onnx", file: str | os.PathLike[str] | None = None
    ) -> bytes | dict[str, Any]:
        """The model for other runtimes: ONNX bytes or the JSON scoring document, also written to ``file``."""
        response = self._http.request("GET", f"/v1/models/{self.id}/export", params={"format": format})
        if file is not None:
            Path(file).write_bytes(response.content)
        if format == "json":
            document: dict[str, Any] = response.json()
            return document
        return response.content

    def delete(self) -> None:
        self._http.request("DELETE", f"/v1/models/{self.id}")


def _file_prediction_body(path: str | os.PathLike[str]) -> Body:
    """CSV and svmlight files go as they are; Parquet, which predictions do not take, is read by pandas."""
    body = file_body(path)
    if body.media_type in (CSV, SVMLIGHT):
        return body
    assert body.media_type == PARQUET
    pandas = require("pandas", "pandas")
    return json_body(frame_document(pandas.read_parquet(io.BytesIO(body.content))))
