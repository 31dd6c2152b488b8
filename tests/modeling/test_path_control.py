"""walk_path's feature budget on a scripted engine: where bisection lands, when it gives up, what it asks."""

from __future__ import annotations

import numpy as np
import pytest

from service.modeling.engine.path_control import (
    EDGE_BRACKET,
    MAX_BISECTIONS,
    MIN_BRACKET,
    PathControl,
    Step,
    walk_path,
)
from service.modeling.engine.solution import PathRecorder, PathSolution


class ScriptedEngine:
    """Feature j is nonzero (value 1) exactly when alpha < ``entries[j]``; checks the warm-start
    contract: ``previous`` must name the alpha whose solution the engine holds."""

    def __init__(self, entries: list[float]) -> None:
        self.entries = np.asarray(entries, dtype=np.float64)
        self.held: float | None = None
        self.calls: list[tuple[float, float | None]] = []

    def solve_one(self, alpha: float, previous: float | None) -> Step:
        assert previous == self.held, f"told the engine holds {previous}, it holds {self.held}"
        self.calls.append((alpha, previous))
        self.held = alpha
        coef = (alpha < self.entries).astype(np.float64)
        return Step(coef, np.zeros(1), 1, 0.0, True, 0.0)

    def walk(self, alphas: list[float], k: int) -> PathSolution:
        recorder = PathRecorder(self.entries.shape[0], 1)
        grid = np.asarray(alphas, dtype=np.float64)
        return walk_path(grid, None, PathControl(max_features=k), recorder, self.solve_one)


def selected(solution: PathSolution) -> list[int]:
    return [int(np.count_nonzero(c)) for c in solution.coef]


@pytest.mark.parametrize(("k", "edge", "above"), [(1, 3.0, 8.0), (2, 2.9, 3.0)])
def test_walk_path_bisects_to_exactly_k_just_above_the_next_entry(k: int, edge: float, above: float) -> None:
    # The grid jumps from no feature (alpha 10) to three (alpha 1).
    engine = ScriptedEngine([8.0, 3.0, 2.9, 0.5])
    solution = engine.walk([10.0, 1.0, 0.1], k)
    assert solution.alphas is not None
    assert selected(solution) == [0, k]
    refined = float(solution.alphas[1])
    assert solution.alphas[0] == 10.0 and edge < refined < above
    # The least shrunk k-feature model: the next feature enters within EDGE_BRACKET below it.
    assert np.log(refined / edge) <= EDGE_BRACKET
    # The bracket went up from the over-budget alpha: the first bisection solves above it.
    assert engine.calls[2][1] == 1.0 and engine.calls[2][0] > 1.0
    assert len(engine.calls) <= 2 + MAX_BISECTIONS
    # Never solved past the over-budget alpha, and the alpha 0.1 after it never.
    assert min(alpha for alpha, _ in engine.calls) == 1.0


@pytest.mark.parametrize("gap", [0.0, 1e-12])
def test_walk_path_keeps_the_path_when_features_enter_together(gap: float) -> None:
    # Two features enter at the same alpha (or closer than MIN_BRACKET): no 1-feature model.
    engine = ScriptedEngine([3.0, 3.0 * (1.0 + gap), 0.5])
    solution = engine.walk([10.0, 1.0], 1)
    assert solution.alphas is not None and solution.alphas.tolist() == [10.0]
    assert selected(solution) == [0]
    bisections = engine.calls[2:]
    assert 0 < len(bisections) <= MAX_BISECTIONS
    # It gave up only once the bracket around the entry was numerically tiny.
    above = min(alpha for alpha, _ in bisections if alpha >= 3.0 * (1.0 + gap))
    below = max(alpha for alpha, _ in bisections if alpha < 3.0)
    assert np.log(above / below) <= 2.0 * MIN_BRACKET + gap


def test_walk_path_does_not_bisect_when_the_grid_reached_the_budget() -> None:
    engine = ScriptedEngine([8.0, 3.0, 1.5])
    solution = engine.walk([10.0, 5.0, 2.0, 1.0], 1)
    assert solution.alphas is not None and solution.alphas.tolist() == [10.0, 5.0]
    assert selected(solution) == [0, 1]
    assert [alpha for alpha, _ in engine.calls] == [10.0, 5.0, 2.0]


def test_walk_path_without_a_budget_solves_every_alpha() -> None:
    engine = ScriptedEngine([8.0, 3.0, 2.9])
    recorder = PathRecorder(3, 1)
    grid = np.array([10.0, 5.0, 1.0])
    solution = walk_path(grid, None, PathControl(), recorder, engine.solve_one)
    assert solution.alphas is not None and solution.alphas.tolist() == [10.0, 5.0, 1.0]
    assert selected(solution) == [0, 1, 3]


def test_walk_path_counts_grouped_columns_as_one_feature() -> None:
    # Columns 0 and 1 are one feature (levels of a categorical), entering at 8 and 3.
    engine = ScriptedEngine([8.0, 3.0, 2.0, 0.5])
    recorder = PathRecorder(4, 1)
    control = PathControl(max_features=2, column_features=np.array([0, 0, 1, 2], dtype=np.int64))
    solution = walk_path(np.array([10.0, 0.1]), None, control, recorder, engine.solve_one)
    assert solution.alphas is not None and solution.alphas.shape[0] == 2
    refined = float(solution.alphas[1])
    # Below 3 column 1 adds no feature; two features once column 2 enters (at 2), three at 0.5.
    assert 0.5 < refined < 2.0 and np.log(refined / 0.5) <= EDGE_BRACKET
    assert selected(solution) == [0, 3]
