"""Kind ``bootstrap``: selection frequencies and percentile intervals at the chosen alpha."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from service.modeling import Checkpoint
from service.worker.kinds.selection_task import SelectionTask, strata_of
from service.worker.prepared import Prepared


class BootstrapTask(SelectionTask):
    """Stores per design column its frequency, mean and interval; selected: intervals without 0.

    With ``over_path`` every replicate also fits the full data's alpha grid: the summary adds each
    feature's frequency at every alpha, and the intervals are those at the grid alpha nearest the
    model's (given, or chosen by CV on all rows).
    """

    kind: ClassVar[str] = "bootstrap"

    def compute(self, prepared: Prepared, checkpoint: Checkpoint) -> dict[str, Any]:
        from service.modeling.stats.bootstrap import bootstrap

        options = self.parameters
        level = float(options.get("level", 0.95))
        over_path = bool(options.get("over_path", False))
        result = bootstrap(
            prepared.design.X,
            prepared.design.y,
            prepared.spec,  # alpha given: at it; else the alpha the full-data fit (CV) chooses
            replicates=int(options.get("replicates", 100)),
            level=level,
            seed=int(options.get("seed", 0)),
            over_path=over_path,
            sample_weight=prepared.design.sample_weight,
            n_classes=prepared.n_classes,
            strata=strata_of(prepared),
            checkpoint=checkpoint,
            processes=self.cv_processes,
        )
        # Over the path, the intervals are those at the grid alpha nearest the model's alpha.
        at = _nearest(result.alphas, _model_alpha(prepared)) if over_path else 0
        columns = prepared.column_names
        multinomial = result.lower.shape[2] > 1
        lower, upper = result.lower[at], result.upper[at]  # (p, K')
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
                    "frequency": float(result.frequency[at, j]),
                    "estimate": per_class(result.estimate[at, j]),
                    "mean": per_class(result.mean[at, j]),
                    "lower": per_class(lower[j]),
                    "upper": per_class(upper[j]),
                }
                for j in range(len(columns))
            ],
            "feature_frequency": {
                name: float(f)
                for name, f in zip(prepared.feature_names, result.feature_frequency[at], strict=True)
            },
            "alpha": float(result.alphas[at]),
            "level": level,
            "replicates": int(result.replicates),
            **(_path_frequencies(result, prepared.feature_names) if over_path else {}),
        }


def _model_alpha(prepared: Prepared) -> float:
    """The alpha of the model the job's spec makes: given, or chosen by its CV on all rows."""
    if prepared.spec.alpha is not None:
        return float(prepared.spec.alpha)
    from service.modeling.fit import fit_model

    chosen = fit_model(
        prepared.design.X,
        prepared.design.y,
        prepared.spec,
        sample_weight=prepared.design.sample_weight,
        n_classes=prepared.n_classes,
    )
    return float(chosen.alpha)


def _nearest(alphas: np.ndarray[Any, Any], alpha: float) -> int:
    return int(np.argmin(np.abs(np.log(alphas) - np.log(alpha))))


def _path_frequencies(result: Any, feature_names: list[str]) -> dict[str, Any]:
    """Each feature's selection frequency at every alpha of the grid (features ever selected)."""
    ever = np.flatnonzero(result.feature_frequency.max(axis=0) > 0)
    return {
        "alphas": [float(a) for a in result.alphas],
        "frequency_path": {
            feature_names[j]: [float(v) for v in result.feature_frequency[:, j]] for j in ever
        },
    }
