"""Kind ``fit``: one model (a path, its CV, the fit at the chosen alpha), saved as a signed artifact."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from service.modeling import Checkpoint, FitOutcome
from service.store.blobs import DatasetStore, ModelStore
from service.worker.artifact import ModelArtifact, describe_model
from service.worker.prepared import Prepared, prepare
from service.worker.tasks import FitResult, JobTask
from service.worker.versions import versions


@dataclass(frozen=True, kw_only=True)
class FitTask(JobTask):
    """A fit job: the model it saves gets ``model_id``."""

    model_id: str
    kind: ClassVar[str] = "fit"

    def run(self, checkpoint: Checkpoint) -> FitResult:
        return execute(self, checkpoint)


def execute(task: FitTask, checkpoint: Checkpoint) -> FitResult:
    """Load, fit and save; the artifact file is written atomically before the result is reported."""
    checkpoint(0.0, "loading")
    if DatasetStore(task.data_dir).is_partitioned(task.dataset_id):
        # A tall table no process holds: fitted from statistics reduced over its partitions.
        from service.worker.tall_fit import fit_partitioned

        return save_model(task, fit_partitioned(task, checkpoint), None, checkpoint)
    prepared = prepare(task)
    design = prepared.design
    checkpoint(0.02, "fitting")
    # Here, not at the top: the web process imports this module (FitTask) and needs no engine; the
    # forkserver has it preloaded (WorkerPool), so a job pays nothing for this import.
    from service.modeling.fit import fit_model

    outcome = fit_model(
        design.X,
        design.y,
        prepared.spec,
        sample_weight=design.sample_weight,
        fold_ids=design.fold_ids,
        n_classes=prepared.n_classes,
        checkpoint=checkpoint,
        cv_processes=task.cv_processes,
    )
    inference = _inference(prepared, outcome, checkpoint) if task.options.get("inference") else None
    artifact = ModelArtifact(
        target=task.design.target,
        family=task.fit.family,
        encoder=design.encoder,
        classes=design.classes,
        outcome=outcome,
    )
    return save_model(task, artifact, inference, checkpoint)


def save_model(
    task: FitTask, artifact: ModelArtifact, inference: dict[str, Any] | None, checkpoint: Checkpoint
) -> FitResult:
    """Save the signed artifact and describe the model for the catalog."""
    checkpoint(0.99, "saving")
    # atomic_write turns a full or read-only disk into its 507 / 503 problem, which ends the job.
    store = ModelStore(task.data_dir, secret=task.artifact_secret, min_free_bytes=task.min_free_bytes)
    digest = store.save(task.model_id, artifact, tenant=task.tenant)  # signed for this id and tenant
    summary = describe_model(artifact, task.penalty)
    groups = task.options.get("groups")
    summary["inference"] = inference
    summary["groups"] = None if groups is None else {name: list(cols) for name, cols in groups.items()}
    summary["versions"] = versions()
    return FitResult(task.model_id, digest.sha256, digest.size, summary)


def _inference(prepared: Prepared, outcome: FitOutcome, checkpoint: Checkpoint) -> dict[str, Any]:
    """Selective p-values and intervals of the lasso's selected columns (ModelRead.inference)."""
    from service.modeling.stats.inference import selective_inference

    checkpoint(0.95, "inference")
    result = selective_inference(
        prepared.design.X,
        prepared.design.y,
        prepared.spec,
        outcome,
        sample_weight=prepared.design.sample_weight,
        checkpoint=checkpoint,
    )
    columns = prepared.column_names

    def finite(value: float) -> float | None:
        return float(value) if math.isfinite(value) else None  # an unbounded interval end: null

    return {
        "sigma": float(result.sigma),
        "sigma_method": str(result.sigma_method),
        "level": float(result.level),
        "features": [
            {
                "feature": columns[int(j)],
                "coefficient": float(result.coefficient[i]),
                "lasso_coefficient": float(result.lasso_coef[i]),
                "p_value": float(result.p_value[i]),
                "lower": finite(result.lower[i]),
                "upper": finite(result.upper[i]),
            }
            for i, j in enumerate(result.selected)
        ],
    }
