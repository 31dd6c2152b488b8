"""Model documents written straight to JSON bytes: a wide model's are megabytes, past pydantic round trips.

A model with 20,000 design columns has 20,000 coefficients in its ModelRead and 2 million numbers
in a 100-alpha path. Validating and encoding those through pydantic models took most of a read's
time, so these routes answer with bytes written here and declare their schema on the route.
"""

from __future__ import annotations

import json

import orjson

from service.api.schemas import ModelRead
from service.errors import ValidationError
from service.store.records import ModelText
from service.worker.artifact import ModelArtifact, path_arrays, path_columns

JSON_MEDIA_TYPE = "application/json"

# What json.dumps writes for non-finite floats: a summary holding one is not JSON as it stands.
_NON_FINITE = ("NaN", "Infinity")


def model_json(model: ModelText) -> bytes:
    """The ModelRead of ``model``: its ids and name, then its stored summary as the catalog holds it.

    The summary is the worker's ``describe_model`` (with ``versions``), written once as JSON when
    the job ended; it is spliced in, not decoded and encoded again. A summary holding a non-finite
    number (or a name that spells one) takes the slow way, which writes such numbers as null as
    pydantic does.
    """
    head = json.dumps(
        {
            "id": model.id,
            "name": model.name,
            "job_id": model.job_id,
            "dataset_id": model.dataset_id,
            "created_at": model.created_at,
        }
    )
    summary = model.summary
    if summary.startswith('{"') and not any(token in summary for token in _NON_FINITE):
        return f"{head[:-1]}, {summary[1:]}".encode()
    document = {**json.loads(summary), **json.loads(head)}
    return ModelRead.model_validate(document).model_dump_json().encode()


def models_page_json(models: list[ModelText], total: int) -> bytes:
    """A ModelList page: ``{"items": [...], "total": N}``."""
    return b'{"items": [' + b", ".join(model_json(m) for m in models) + f'], "total": {total}}}'.encode()


def feature_list(features: str) -> list[str]:
    """The names of a ``?features=a,b,c`` query: comma-separated, none empty."""
    names = features.split(",")
    if not all(names):
        msg = "a feature name is empty; give names separated by single commas"
        raise ValidationError(
            f"features: {msg}", errors=[{"loc": ["query", "features"], "msg": msg, "type": "empty_feature"}]
        )
    return names


def path_json(artifact: ModelArtifact, features: str | None) -> bytes:
    """The PathRead of ``artifact``, with only the coefficient paths of ``features`` when given.

    orjson writes the numpy arrays as they are (non-finite numbers as null): no Python float is
    made for the millions of values of a wide path.
    """
    columns = None if features is None else path_columns(artifact, feature_list(features))
    return orjson.dumps(path_arrays(artifact, columns), option=orjson.OPT_SERIALIZE_NUMPY)
