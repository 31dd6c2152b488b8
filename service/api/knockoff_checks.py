"""What the dataset's stored schema tells about a knockoffs job before it is queued: its size."""

from __future__ import annotations

from service.api.schemas import JobCreate
from service.data.schema import DatasetSchema
from service.data.spec import DesignSpec
from service.errors import ValidationError
from service.modeling.stats.knockoff_limits import MAX_COLUMNS


def check_knockoffs_size(job: JobCreate, schema: DatasetSchema, spec: DesignSpec) -> None:
    """422 for a knockoffs job on more features than the filter takes, or a fixed-X one on too
    few rows (2p + 1 for p features); a categorical's levels only add columns, so this is a floor."""
    if job.knockoffs is None:
        return
    p = len(spec.feature_names(schema.names))
    if p > MAX_COLUMNS:
        raise ValidationError(
            f"knockoffs: the job has {p} features; the knockoff filter takes at most {MAX_COLUMNS}.",
            errors=[{"loc": ["body", "knockoffs"], "msg": "too many features", "type": "limit"}],
        )
    n = schema.n_rows
    if job.knockoffs.method == "fixed-x" and n is not None and n < 2 * p + 1:
        raise ValidationError(
            f"knockoffs.method: fixed-x needs at least 2p + 1 = {2 * p + 1} rows for {p} features; "
            f"the dataset has {n} (use model-x or auto).",
            errors=[{"loc": ["body", "knockoffs", "method"], "msg": "too few rows", "type": "value_error"}],
        )
