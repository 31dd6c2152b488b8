"""Selections from the Python client and the `sparsefit select` command, against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sparsefit

from tests.client.test_cli import run
from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e]


def test_client_select_reads_back_what_the_service_stored(
    sf: sparsefit.Client, diabetes: pd.DataFrame, tmp_path: Path
) -> None:
    selection = sf.select(diabetes, "target", "stability", stability={"n_pairs": 8, "pfer": 1}, name="stab")
    assert isinstance(selection, sparsefit.Selection) and selection.kind == "stability"
    assert {"bmi", "s5"} <= set(selection.selected)
    assert selection.info == sf.selection(selection.id).info
    evidence = selection.evidence()
    assert evidence.loc["bmi", "probability"] >= selection.info["threshold"]
    assert bool(evidence.loc["bmi", "selected"])
    assert set(evidence.index[evidence["selected"]]) == set(selection.selected)
    svg = selection.plot_stability(tmp_path / "stability.svg")
    assert (tmp_path / "stability.svg").read_text(encoding="utf-8") == svg.text and "<svg" in svg.text
    assert selection.id in {s.id for s in sf.selections()}

    job = sf.select(diabetes, "target", "bootstrap", wait=False, alpha=1.0, bootstrap={"replicates": 10})
    assert isinstance(job, sparsefit.Job) and job.kind == "bootstrap"
    boot = sf.wait_selection(job)
    assert sf.job(job.id).selection_id == boot.id and boot.kind == "bootstrap"
    sf.delete_selection(boot)
    with pytest.raises(sparsefit.SparsefitError) as refused:
        sf.selection(boot.id)
    assert refused.value.type == "/problems/not-found"


def test_client_select_refusal_is_a_sparsefit_error(sf: sparsefit.Client, diabetes: pd.DataFrame) -> None:
    with pytest.raises(sparsefit.SparsefitError) as refused:
        sf.select(diabetes, "target", "knockoffs", knockoffs={"fdr": 2})
    assert refused.value.type == "/problems/validation" and "fdr" in refused.value.message


def test_cli_select_prints_the_selection(service: Server, diabetes: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "diabetes.csv"
    diabetes.to_csv(path, index=False)
    shown = run(service, "select", str(path), "--target", "target", "--pairs", "5", "--threshold", "0.8")
    assert shown.returncode == 0, shown.stderr
    assert "stability of target" in shown.stdout and "threshold=0.8" in shown.stdout
    printed = run(
        service, "select", str(path), "-y", "target", "--kind", "bootstrap", "--replicates", "5", "--json"
    )
    assert printed.returncode == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert document["kind"] == "bootstrap" and document["replicates"] == 5
