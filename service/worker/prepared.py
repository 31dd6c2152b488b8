"""A task's design and its complete FitSpec: what every kind of job computes on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from service.data.design import Design
from service.modeling import FitSpec
from service.worker.design import design_fit_spec, load_design
from service.worker.tasks import JobTask


@dataclass(frozen=True, eq=False)
class Prepared:
    """The task's design, the FitSpec completed for it, and the class count of a classification."""

    design: Design
    spec: FitSpec
    n_classes: int | None

    @property
    def feature_names(self) -> list[str]:
        return list(self.design.encoder.feature_names)

    @property
    def column_names(self) -> list[str]:
        return list(self.design.encoder.design_columns)


def prepare(task: JobTask) -> Prepared:
    """Load the task's design and complete its FitSpec with what only the design knows."""
    design = load_design(task.data_dir, task.dataset_id, task.dataset_sha256, task.design)
    spec = replace(design_fit_spec(task.fit, design), target_name=task.design.target)
    groups = task.options.get("groups")
    if groups is not None:
        spec = replace(spec, groups=group_ids(design.encoder.groups, groups))
    return Prepared(design, spec, None if design.classes is None else len(design.classes))


def group_ids(column_features: Sequence[str], groups: Mapping[str, Sequence[str]]) -> tuple[int, ...]:
    """One group id per design column, numbered by first appearance.

    A column belongs to the named group of its feature; a feature in no named group is a group of
    its own, so a categorical's levels stay together and a numeric column stands alone.
    """
    named = {feature: name for name, features in groups.items() for feature in features}
    ids: dict[Any, int] = {}
    out = []
    for feature in column_features:
        key = ("group", named[feature]) if feature in named else ("feature", feature)
        out.append(ids.setdefault(key, len(ids)))
    return tuple(out)
