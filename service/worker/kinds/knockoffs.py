"""Kind ``knockoffs``: the knockoff filter at a target FDR (service.modeling.stats.knockoffs)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from service.modeling import Checkpoint
from service.worker.kinds.selection_task import SelectionTask
from service.worker.prepared import Prepared


class KnockoffsTask(SelectionTask):
    """Stores per design column its statistic W, the knockoff threshold and the selected features."""

    kind: ClassVar[str] = "knockoffs"

    def compute(self, prepared: Prepared, checkpoint: Checkpoint) -> dict[str, Any]:
        from service.modeling.stats.knockoffs import knockoff_filter

        options = self.parameters
        folds = 5 if self.fit.cv is None else self.fit.cv.n_folds
        result = knockoff_filter(
            prepared.design.X,
            prepared.design.y,
            family=prepared.spec.family,
            fdr=float(options.get("fdr", 0.1)),
            method=str(options.get("method", "auto")),
            offset=int(options.get("offset", 1)),
            seed=int(options.get("seed", 0)),
            sample_weight=prepared.design.sample_weight,
            n_classes=prepared.n_classes,
            checkpoint=checkpoint,
            cv_folds=folds,
            processes=self.cv_processes,
        )
        columns = prepared.column_names
        chosen = np.zeros(len(columns), dtype=bool)
        chosen[result.selected] = True
        order = np.argsort(-result.statistics, kind="stable")
        return {
            # A feature is selected when any of its design columns is (a categorical's levels).
            "selected": prepared.design.encoder.selected_groups(chosen),
            "selected_columns": [columns[int(j)] for j in result.selected],
            "features": [
                {
                    "feature": columns[int(j)],
                    "statistic": float(result.statistics[j]),
                    "s": float(result.s[j]),
                }
                for j in order
            ],
            "fdr": float(result.fdr),
            "threshold": float(result.threshold) if np.isfinite(result.threshold) else None,
            "method": str(result.method),
            "construction": str(result.construction),
            "offset": int(result.offset),
            "seed": int(result.seed),
            "alpha": float(result.alpha),
            # Model-X: the Ledoit-Wolf shrinkage of the covariance the knockoffs were drawn from.
            "shrinkage": None if result.shrinkage is None else float(result.shrinkage),
        }
