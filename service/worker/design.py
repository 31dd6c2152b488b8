"""A job's dataset as a design matrix, and the fit spec completed with what only the design knows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from service.data.design import Design, DesignSpec
from service.data.sparse_design import build_any_design
from service.data.sparseio import stored_dataset_from_bytes
from service.modeling import FitSpec
from service.store.blobs import DatasetStore


def load_design(data_dir: Path, dataset_id: str, sha256: str, spec: DesignSpec) -> Design:
    """The design of ``spec`` on the stored dataset: dense, or CSC for a sparse dataset."""
    table = stored_dataset_from_bytes(DatasetStore(data_dir).read(dataset_id, sha256))
    return build_any_design(table, spec)


def design_fit_spec(spec: FitSpec, design: Design) -> FitSpec:
    """``spec`` with the per-design-column penalty factors, bounds and feature map of ``design``.

    The request names features; only the built design knows the columns they became (one per
    level of a categorical), so this happens here rather than when the job is submitted.
    """
    constraints = design.constraints
    return replace(
        spec,
        penalty_factors=constraints.penalty_factors,
        lower_bounds=constraints.lower_bounds,
        upper_bounds=constraints.upper_bounds,
        column_features=constraints.column_features,
        # Data the engine refuses (extreme magnitudes) is named by column in the job's problem.
        column_names=tuple(design.encoder.design_columns),
    )
