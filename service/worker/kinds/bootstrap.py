"""Kind ``bootstrap``: selection frequencies and percentile intervals at the chosen alpha."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from service.modeling import Checkpoint
from service.worker.kinds.selection_task import SelectionTask, strata_of
from service.worker.prepared import Prepared


class BootstrapTask(SelectionTask):
    """Stores per design column its frequency, mean and interval; selected: intervals without 0."""

    kind: ClassVar[str] = "bootstrap"

    def compute(self, prepared: Prepared, checkpoint: Checkpoint) -> dict[str, Any]:
        from service.modeling.stats.bootstrap import bootstrap

        options = self.parameters
        level = float(options.get("level", 0.95))
        result = bootstrap(
            prepared.design.X,
            prepared.design.y,
            prepared.spec,  # alpha given: at it; else the alpha the full-data fit (CV) chooses
            replicates=int(options.get("replicates", 100)),
            level=level,
            seed=int(options.get("seed", 0)),
            sample_weight=prepared.design.sample_weight,
            n_classes=prepared.n_classes,
            strata=strata_of(prepared),
            checkpoint=checkpoint,
            processes=self.cv_processes,
        )
        columns = prepared.column_names
        multinomial = result.lower.shape[2] > 1
        lower, upper = result.lower[0], result.upper[0]  # (p, K'), the one alpha
        # Selected: a column whose interval excludes 0 (in some class): nonzero, with one sign,
        # in more than (1 + level) / 2 of the replicates.
        excludes_zero = np.any((lower > 0) | (upper < 0), axis=1)

        def per_class(values: np.ndarray[Any, Any]) -> float | list[float]:
            return [float(v) for v in values] if multinomial else float(values[0])

        return {
            "selected": prepared.design.encoder.selected_groups(excludes_zero),
            "features": [
                {
                    "feature": columns[j],
                    "frequency": float(result.frequency[0, j]),
                    "estimate": per_class(result.estimate[0, j]),
                    "mean": per_class(result.mean[0, j]),
                    "lower": per_class(lower[j]),
                    "upper": per_class(upper[j]),
                }
                for j in range(len(columns))
            ],
            "feature_frequency": {
                name: float(f)
                for name, f in zip(prepared.feature_names, result.feature_frequency[0], strict=True)
            },
            "alpha": float(result.alphas[0]),
            "level": level,
            "replicates": int(result.replicates),
        }
