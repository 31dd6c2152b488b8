"""The model's documents as pandas objects when pandas is installed, as plain dicts and lists otherwise."""

from __future__ import annotations

from typing import Any

from sparsefit.optional import is_frame, is_ndarray, is_sparse, optional


def coefficients(document: dict[str, Any], key: str = "value") -> Any:
    """Coefficients by design column (``key`` "value", or "standardized"), intercept left out.

    With pandas: a Series indexed by design column, or for multinomial a DataFrame with one column
    per class. Without: a dict from design column to its value (a list per class for multinomial).
    """
    by_feature = {entry["feature"]: entry[key] for entry in document["coefficients"]}
    pandas = optional("pandas")
    if pandas is None:
        return by_feature
    classes = document.get("classes")
    if document.get("family") == "multinomial" and classes is not None:
        frame = pandas.DataFrame.from_dict(by_feature, orient="index", columns=[str(c) for c in classes])
        frame.index.name = "feature"
        return frame
    series = pandas.Series(by_feature, name="coefficient", dtype="float64")
    series.index.name = "feature"
    return series


def path_table(document: dict[str, Any], classes: list[Any] | None) -> Any:
    """The coefficient path: one row per alpha, one column per design column (per class for multinomial).

    The frame's ``attrs`` keep the rest of the document (``n_selected``, ``deviance_ratio`` ...).
    """
    pandas = optional("pandas")
    if pandas is None:
        return document
    alphas = pandas.Index(document["alphas"], name="alpha", dtype="float64")
    paths: dict[str, Any] = document["coefficients"]
    multi = any(values and isinstance(values[0], list) for values in paths.values())
    if multi and classes is not None:
        columns = {
            (feature, str(label)): [row[k] for row in values]
            for feature, values in paths.items()
            for k, label in enumerate(classes)
        }
        frame = pandas.DataFrame(columns, index=alphas)
        frame.columns = pandas.MultiIndex.from_tuples(list(columns), names=["feature", "class"])
    else:
        frame = pandas.DataFrame(paths, index=alphas, dtype="float64")
    frame.attrs = {k: v for k, v in document.items() if k != "coefficients"}
    return frame


def cv_table(document: dict[str, Any]) -> Any:
    """The CV curve: mean and standard error by alpha (and l1_ratio when several were tried).

    ``attrs`` carries the metric, ``alpha_min``, ``alpha_1se`` and the rule.
    """
    pandas = optional("pandas")
    if pandas is None:
        return document
    curves = document.get("curves") or [document]
    rows = [
        {"l1_ratio": curve.get("l1_ratio"), "alpha": alpha, "mean": mean, "se": se}
        for curve in curves
        for alpha, mean, se in zip(curve["alphas"], curve["mean"], curve["se"], strict=True)
    ]
    frame = pandas.DataFrame(rows, columns=["l1_ratio", "alpha", "mean", "se"])
    frame = frame.astype({"mean": "float64", "se": "float64"})
    if document.get("curves"):
        frame = frame.set_index(["l1_ratio", "alpha"])
    else:
        frame = frame.drop(columns="l1_ratio").set_index("alpha")
    keep = ("metric", "alpha_min", "alpha_1se", "rule", "l1_ratio")
    frame.attrs = {k: document[k] for k in keep if k in document}
    return frame


def predictions(values: list[Any], like: Any, name: str | None) -> Any:
    """Predictions in the shape of the input: a Series for a frame, an array for an array or matrix.

    For anything else, an array when numpy is installed, the plain list otherwise.
    """
    if is_frame(like):
        pandas = optional("pandas")
        assert pandas is not None  # a frame came in, so pandas is there
        return pandas.Series(values, index=like.index, name=name)
    numpy = optional("numpy")
    if numpy is not None and (is_ndarray(like) or is_sparse(like) or not isinstance(like, list)):
        return numpy.asarray(values)
    return values


def probabilities(values: list[list[float]], classes: list[Any], like: Any) -> Any:
    """Class probabilities: a DataFrame (columns the classes) with pandas, else an array or lists."""
    pandas = optional("pandas")
    if pandas is not None:
        index = like.index if is_frame(like) else None
        return pandas.DataFrame(values, columns=[str(c) for c in classes], index=index)
    numpy = optional("numpy")
    return numpy.asarray(values) if numpy is not None else values
