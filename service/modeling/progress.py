"""Turns per-path solver progress into the caller's overall fraction done and stage."""

from __future__ import annotations

from service.modeling.engine import PathProgress
from service.modeling.specs import Checkpoint


class Progress:
    """Counts path solves (full data and every CV fold, each l1_ratio) as equal units of work."""

    def __init__(self, checkpoint: Checkpoint | None, total_solves: int) -> None:
        self._checkpoint = checkpoint
        self._total = max(total_solves, 1)
        self._done = 0

    def solve(self, stage: str) -> PathProgress | None:
        """The callback for the next path solve; reports (solves done + its fraction) / total."""
        checkpoint = self._checkpoint
        if checkpoint is None:
            return None
        done, total = self._done, self._total

        def report(fraction: float) -> None:
            checkpoint(min((done + fraction) / total, 1.0), stage)

        return report

    def finish(self, stage: str) -> None:
        """One more solve is complete (after a path, or after a fold has been scored)."""
        self._done += 1
        if self._checkpoint is not None:
            self._checkpoint(min(self._done / self._total, 1.0), stage)
