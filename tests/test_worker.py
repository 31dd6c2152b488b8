"""What the worker hands to modeling: the request's per-feature constraints spread over design columns."""

from __future__ import annotations

import math

from service.api.job_specs import design_spec, fit_spec
from service.api.schemas import JobCreate
from service.data.design import build_design
from service.data.parsing import parse_split_json
from service.worker.design import design_fit_spec

TABLE = parse_split_json(
    ["x", "colour", "z", "y"],
    [[1.0, "red", 0.5, 1.0], [2.0, "blue", -0.5, 2.0], [3.0, "green", 1.5, 2.5], [4.0, "red", 0.0, 4.0]],
)


def test_design_fit_spec_spreads_constraints_over_design_columns() -> None:
    job = JobCreate.model_validate(
        {
            "dataset_id": "d",
            "target": "y",
            "penalty_factors": {"colour": 0.0, "z": 2.5},
            "bounds": {"colour": [None, 0.0], "x": [-1.0, None]},
            "max_features": 2,
        }
    )
    design = build_design(TABLE, design_spec(job))
    assert design.encoder.design_columns == ["x", "colour=blue", "colour=green", "colour=red", "z"]
    spec = design_fit_spec(fit_spec(job), design)
    assert spec.penalty_factors == (1.0, 0.0, 0.0, 0.0, 2.5)
    assert spec.lower_bounds == (-1.0, -math.inf, -math.inf, -math.inf, -math.inf)
    assert spec.upper_bounds == (math.inf, 0.0, 0.0, 0.0, math.inf)
    assert spec.column_features == (0, 1, 1, 1, 2)
    assert spec.max_features == 2


def test_design_fit_spec_without_constraints_changes_nothing_else() -> None:
    job = JobCreate.model_validate({"dataset_id": "d", "target": "y", "features": ["z", "colour"]})
    design = build_design(TABLE, design_spec(job))
    base = fit_spec(job)
    spec = design_fit_spec(base, design)
    assert spec.penalty_factors is None and spec.lower_bounds is None and spec.upper_bounds is None
    assert spec.max_features is None
    assert spec.column_features == (0, 1, 1, 1)  # z, then colour's three levels
    assert spec.family == base.family and spec.path == base.path and spec.cv == base.cv
