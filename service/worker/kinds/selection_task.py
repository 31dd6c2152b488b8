"""What the selection kinds share: a task that stores a selection summary instead of a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from service.modeling import Checkpoint
from service.worker.prepared import Prepared, prepare
from service.worker.tasks import JobTask, SelectionResult
from service.worker.versions import versions


@dataclass(frozen=True, kw_only=True)
class SelectionTask(JobTask):
    """A stability, knockoffs or bootstrap job: its selection gets ``selection_id``.

    A subclass says how the selection is computed (``compute``, on the prepared design) and what
    its summary holds; the summary is stored in the catalog and read by /v1/selections.
    """

    selection_id: str
    output_field: ClassVar[str] = "selection_id"

    @property
    def parameters(self) -> dict[str, Any]:
        """The kind's own request part (JobCreate.stability, .knockoffs or .bootstrap)."""
        return dict(self.options.get(self.kind) or {})

    def run(self, checkpoint: Checkpoint) -> SelectionResult:
        checkpoint(0.0, "loading")
        prepared = prepare(self)
        checkpoint(0.02, self.kind)
        summary = self.compute(prepared, checkpoint)
        summary.update(target=self.design.target, family=str(self.fit.family), versions=versions())
        return SelectionResult(self.selection_id, self.kind, summary)

    def compute(self, prepared: Prepared, checkpoint: Checkpoint) -> dict[str, Any]:
        raise NotImplementedError


def floats(values: npt.ArrayLike) -> list[float]:
    """Plain finite floats for JSON (a non-finite value would not survive the catalog's encoder)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    return [float(v) for v in np.where(np.isfinite(array), array, 0.0)]


def strata_of(prepared: Prepared) -> npt.NDArray[np.int64] | None:
    """Class codes for a classification (subsamples keep every class), None for gaussian."""
    return None if prepared.n_classes is None else np.asarray(prepared.design.y, dtype=np.int64)
