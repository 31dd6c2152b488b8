"""Issue 12's small mends: the Makefile's port, README links, a nullable dual_gap, n_iter <= max_iter."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine

from service.app import create_app
from service.config import Settings
from service.modeling import Family, FitSpec, PathSpec, fit_model
from tests.e2e.conftest import REPO


def _make_run(*args: str, **env: str) -> str:
    """The command `make run` would execute (dry run), with ``env`` added to the environment."""
    # Not make's own variables either: under `make test` they make the child print "Leaving
    # directory" lines after the command.
    inherited = ("SPARSEFIT_", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=REPO,
        env={**environment, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_takes_port_and_host_from_make_or_the_environment() -> None:
    assert "SPARSEFIT_PORT=8000" in _make_run() and "SPARSEFIT_HOST=127.0.0.1" in _make_run()
    assert "SPARSEFIT_PORT=9001" in _make_run("PORT=9001")
    assert "SPARSEFIT_PORT=9002" in _make_run(SPARSEFIT_PORT="9002")
    assert "SPARSEFIT_HOST=0.0.0.0" in _make_run(SPARSEFIT_HOST="0.0.0.0")
    # Both given: the make variable wins, as the README says.
    assert "SPARSEFIT_PORT=9003" in _make_run("PORT=9003", SPARSEFIT_PORT="9002")


def test_readme_links_only_to_files_in_the_repository() -> None:
    text = (REPO / "README.md").read_text()
    assert "../shared" not in text
    targets = re.findall(r"\]\(([^)#\s]+)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "the README links to its docs"
    for target in local:
        path = (REPO / target).resolve()
        assert path.is_relative_to(REPO) and path.exists(), target


def test_readme_says_how_predictions_between_path_alphas_are_made() -> None:
    assert "interpolated linearly in log(alpha)" in (REPO / "README.md").read_text()


def _dual_gap_items(document: dict[str, object]) -> object:
    schemas = document["components"]["schemas"]  # type: ignore[index]
    return schemas["PathRead"]["properties"]["dual_gap"]["items"]


def test_path_dual_gap_may_be_null_in_the_openapi_document(settings: Settings) -> None:
    # orjson writes a NaN certificate as null, so the document must allow it.
    items = _dual_gap_items(create_app(settings).openapi())
    assert {"type": "null"} in items["anyOf"]  # type: ignore[index]
    committed = json.loads((REPO / "openapi" / "openapi.json").read_text())
    assert _dual_gap_items(committed) == items


@pytest.mark.parametrize("loader", [load_iris, load_wine])
@pytest.mark.parametrize("max_iter", [1, 2, 3, 5])
def test_multinomial_n_iter_never_exceeds_max_iter(loader: object, max_iter: int) -> None:
    X, y = loader(return_X_y=True)  # type: ignore[operator]
    spec = FitSpec(Family.MULTINOMIAL, 1.0, None, PathSpec(n_alphas=10), None, tol=1e-12, max_iter=max_iter)
    outcome = fit_model(np.asarray(X, dtype=np.float64), np.asarray(y), spec)
    assert outcome.path.n_iter.max() == max_iter  # the budget was used (tol 1e-12 is out of reach) ...
    assert outcome.convergence.n_iter <= max_iter  # ... and never exceeded (it was max_iter + K - 1)
    assert not outcome.path.converged.all()
