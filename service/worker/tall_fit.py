"""A fit job on a partitioned dataset: the manifest, the numeric encoder, and ``fit_tall``."""

from __future__ import annotations

from dataclasses import replace

from service.data.constraints import column_constraints
from service.data.design import DesignEncoder, FeatureEncoding, MissingPolicy
from service.data.partitions import PartitionedTable
from service.data.table import ColumnKind
from service.errors import InvalidDataError
from service.modeling import Checkpoint, Family, FitSpec
from service.store.blobs import DatasetStore
from service.worker.artifact import ModelArtifact
from service.worker.tall_mapreduce import (
    BlockReader,
    DaskMapReduce,
    Heartbeat,
    LocalMapReduce,
    on_dask_worker,
)
from service.worker.tasks import JobTask

# Options a tall fit does not support, as JobCreate names them: refused with the option named.
REFUSED_OPTIONS = ("inference", "groups")


def _refuse(option: str, reason: str = "is not available on a partitioned dataset") -> InvalidDataError:
    return InvalidDataError(f"{option} {reason}.", option=option)


def check_task(task: JobTask, table: PartitionedTable) -> tuple[str, ...]:
    """The task's feature columns; InvalidDataError naming the option or column it cannot have."""
    design = task.design
    if task.fit.family == Family.MULTINOMIAL:
        raise _refuse("family multinomial")
    for option in REFUSED_OPTIONS:
        if task.options.get(option):
            raise _refuse(option)
    if task.fit.relax or task.fit.adaptive is not None:
        raise _refuse("relax" if task.fit.relax else "adaptive")
    if design.fold_column is not None:
        raise _refuse("fold_column")
    if design.missing != MissingPolicy.ERROR:
        raise _refuse("missing: mean", "(imputation) is not available on a partitioned dataset")
    features = design.feature_names(table.columns)
    for name in (*features, design.target, *([design.weights_column] if design.weights_column else [])):
        if name not in table.columns:
            raise InvalidDataError(f"Column '{name}' is not in the partitioned dataset.", column=name)
    if not features:
        raise InvalidDataError("The fit has no feature columns.")
    return features


def tall_spec(task: JobTask, encoder: DesignEncoder) -> FitSpec:
    """The task's FitSpec completed for the all-numeric design (as ``design_fit_spec``)."""
    constraints = column_constraints(encoder, task.design)
    return replace(
        task.fit,
        penalty_factors=constraints.penalty_factors,
        lower_bounds=constraints.lower_bounds,
        upper_bounds=constraints.upper_bounds,
        column_features=constraints.column_features,
        column_names=tuple(encoder.design_columns),
        target_name=task.design.target,
    )


def fit_partitioned(task: JobTask, checkpoint: Checkpoint) -> ModelArtifact:
    """Fit the task on its partitioned dataset; the passes run as Dask tasks when the job itself
    runs on a Dask worker, else partition by partition in this process."""
    from service.modeling.tall import fit_tall

    manifest = DatasetStore(task.data_dir).read_manifest(task.dataset_id, task.dataset_sha256)
    table = PartitionedTable.from_json(manifest)
    features = check_task(task, table)
    # Every column of a partitioned dataset is numeric and never missing: one design column each.
    encoder = DesignEncoder(
        tuple(FeatureEncoding(name, ColumnKind.NUMERIC) for name in features), MissingPolicy.ERROR
    )
    encoder.check_unique_design_columns()
    spec = tall_spec(task, encoder)
    reader = BlockReader(features, task.design.target, task.design.weights_column)
    heartbeat = Heartbeat(checkpoint)
    mapreduce = (DaskMapReduce if on_dask_worker() else LocalMapReduce)(table.partitions, reader, heartbeat)
    outcome = fit_tall(spec, [p.n_rows for p in table.partitions], mapreduce, checkpoint=heartbeat)
    classes: list[str | int | float] | None = None if spec.family == Family.GAUSSIAN else [0, 1]
    return ModelArtifact(
        target=task.design.target, family=spec.family, encoder=encoder, classes=classes, outcome=outcome
    )
