"""Kind ``stability``: stability selection by complementary pairs (service.modeling.stats.stability)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from service.modeling import Checkpoint
from service.worker.kinds.selection_task import SelectionTask, strata_of
from service.worker.prepared import Prepared


class StabilityTask(SelectionTask):
    """Stores per feature its selection probability along the path, and the stable set."""

    kind: ClassVar[str] = "stability"

    def compute(self, prepared: Prepared, checkpoint: Checkpoint) -> dict[str, Any]:
        from service.modeling.stats.stability import stability_selection

        options = self.parameters
        result = stability_selection(
            prepared.design.X,
            prepared.design.y,
            replace(prepared.spec, cv=None, alpha=None),  # every subsample fits the path, no CV
            n_pairs=int(options.get("n_pairs", 50)),
            fraction=float(options.get("fraction", 0.5)),
            threshold=options.get("threshold"),
            pfer=options.get("pfer"),
            seed=int(options.get("seed", 0)),
            sample_weight=prepared.design.sample_weight,
            n_classes=prepared.n_classes,
            strata=strata_of(prepared),
            checkpoint=checkpoint,
            processes=self.cv_processes,
        )
        document = result.document(prepared.feature_names)
        document.pop("kind", None)  # the selection's kind is a column of its own
        return document
