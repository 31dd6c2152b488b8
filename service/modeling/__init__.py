"""Pure numerics of Sparsefit: penalized linear models, their paths, cross-validation and selection.

The objective, in the API's notation (weights ``w`` normalized to sum to n)::

    gaussian:     1/(2n) sum_i w_i (y_i - b - x_i.beta)^2
                  + alpha * sum_j (l1_ratio |beta_j| + (1 - l1_ratio)/2 beta_j^2)
    binomial,
    multinomial:  -1/n sum_i w_i log p(y_i | x_i)  + the same penalty

Names follow scikit-learn; the mapping to glmnet is ``alpha`` = glmnet's ``lambda`` and
``l1_ratio`` = glmnet's ``alpha``. With ``standardize`` the penalty applies to columns scaled to
weighted mean 0 and weighted population SD 1 (glmnet's ``standardize=TRUE``); coefficients are
reported on the original scale and, as ``coef_std``, on the standardized one. Binomial models
report the coefficients of class 1 (the log-odds); multinomial models use glmnet's symmetric
parametrization, one coefficient vector per class with intercepts centered to sum 0.

``solver.solve_path`` is the single boundary to the numerical engines (scikit-learn's coordinate
descent, a closed-form ridge, proximal Newton on coordinate descent for logistic losses with an L1
part, LogisticRegression/lbfgs for logistic ridge); ``fit_model`` and everything else decides
what to fit. Nothing here imports the rest of the service except ``service.errors``.
"""

from typing import TYPE_CHECKING, Any

from service.modeling.folds import make_folds
from service.modeling.prediction import coefficients_at, predict_linear
from service.modeling.results import (
    AdaptiveResult,
    Convergence,
    CVCurve,
    CVResult,
    FitOutcome,
    LinearPrediction,
    PathResult,
    Selection,
)
from service.modeling.specs import (
    AdaptiveInitial,
    AdaptiveSpec,
    Checkpoint,
    CVMetric,
    CVSpec,
    Family,
    FitSpec,
    PathSpec,
    SelectionRule,
)

if TYPE_CHECKING:
    from service.modeling.fit import fit_model


def __getattr__(name: str) -> Any:
    # fit_model on first use: it brings the engine and its numba kernels (half a second), which the
    # web process, predicting from the results types alone, never needs. Jobs import it in the
    # forkserver, which preloads the engine (service.jobs.pool).
    if name == "fit_model":
        from service.modeling.fit import fit_model

        return fit_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AdaptiveInitial",
    "AdaptiveResult",
    "AdaptiveSpec",
    "CVCurve",
    "CVMetric",
    "CVResult",
    "CVSpec",
    "Checkpoint",
    "Convergence",
    "Family",
    "FitOutcome",
    "FitSpec",
    "LinearPrediction",
    "PathResult",
    "PathSpec",
    "Selection",
    "SelectionRule",
    "coefficients_at",
    "fit_model",
    "make_folds",
    "predict_linear",
]
