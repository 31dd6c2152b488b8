"""The stall guard of the solver loops: NaN measures end the fit, a stalled one ends the alpha."""

from __future__ import annotations

import math

from service.errors import NotConvergingError

# A loop whose measure (duality gap, KKT violation) has not reached a new low, by at least
# IMPROVEMENT of it, in STALL_WINDOW consecutive checks has stopped making progress: iterating on
# to max_iter (100,000 epochs per alpha by default) would only run the job to its timeout. The
# alpha is then reported not converged, as at max_iter. Converging loops set a new low nearly
# every check; the window is long enough for the plateaus of working-set growth.
STALL_WINDOW = 50
IMPROVEMENT = 1e-9


class StallGuard:
    """Watches one loop's measure: ``stalled`` after STALL_WINDOW checks without a new low;
    NotConvergingError at once for a NaN one or a non-finite alpha (an overflow that no further
    iteration repairs). An infinite gap is legitimate (a dual point not yet feasible): no new low."""

    def __init__(self, what: str, alpha: float, window: int = STALL_WINDOW) -> None:
        self.what = what
        self.alpha = alpha
        self.window = window
        self.best = math.inf
        self.since_best = 0

    def check(self, value: float) -> bool:
        """Record ``value``; True when the loop should stop as stalled."""
        if math.isnan(value) or not math.isfinite(self.alpha):
            raise NotConvergingError(
                f"the {self.what} became non-finite at alpha={self.alpha:.6g}: the data's magnitudes "
                "overflow the solver (check for extreme values or penalty factors)",
                alpha=self.alpha if math.isfinite(self.alpha) else None,
            )
        if value < self.best * (1.0 - IMPROVEMENT):
            self.best = value
            self.since_best = 0
            return False
        self.since_best += 1
        return self.since_best >= self.window
