"""The page's selection jobs end to end in headless Chromium against a real server: the job form's
kinds, "Open selection", the selection view (bound, evidence table, stability plot) and the list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.conftest import REPO, Server
from tests.ui.conftest import Watched, watched_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "ui-selection-key-51c2"
DIABETES = REPO / "examples" / "diabetes.csv"
LONG = 180_000  # ms: a selection job (100 paths, or CV on [X, X~]) on two shared cores


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[Server]:
    instance = Server(tmp_path / "data", env={"OPENBLAS_NUM_THREADS": "1", "SPARSEFIT_API_KEYS": f"ui:{KEY}"})
    try:
        instance.start()  # inside the try: a server that never got ready is killed too
        yield instance
    finally:
        instance.cleanup()


def _get(server: Server, path: str) -> Any:
    answer = httpx.get(f"{server.base}{path}", headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    answer.raise_for_status()
    return answer.json()


def _page_errors(watched: Watched) -> list[str]:
    # Chromium logs a 4xx answer to fetch() as a console error; the 401 before the key is expected.
    return [e for e in watched.errors if not e.startswith("Failed to load resource: the server responded")]


def _submit(page: Page, kind: str) -> dict[str, Any]:
    """Starts the form's job of ``kind``; the JSON body the page sent, once the job runs to success."""
    page.select_option("#job-kind", kind)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/jobs")) as sent:
        page.click("#job-submit")
    body = sent.value.post_data_json
    assert isinstance(body, dict)
    response = sent.value.response()
    assert response is not None and response.status == 202
    job_id = response.json()["id"]
    # The live panel follows the job started last: wait for this one's success, not the one before.
    page.locator("#job-live-name", has_text=job_id[:8]).wait_for()
    page.locator("#job-live-status", has_text="succeeded").wait_for(timeout=LONG)
    body["_job_id"] = job_id
    return body


def _stats(page: Page) -> dict[str, str]:
    labels = page.locator("#selection-stats .stat .label").all_inner_texts()
    values = page.locator("#selection-stats .stat .value").all_inner_texts()
    return {label.lower(): value for label, value in zip(labels, values, strict=True)}


def _column(page: Page, index: int) -> list[float]:
    cells = page.locator(f"#selection-table tbody tr td:nth-child({index})")
    return [float(v) for v in cells.evaluate_all("cells => cells.map(c => c.dataset.value)")]


def _check_stability(page: Page, server: Server, selection_id: str) -> None:
    selection = _get(server, f"/v1/selections/{selection_id}")
    page.locator("#plot-stability .plot-body svg").wait_for()
    assert page.inner_text("#selection-title") == "Stability selection of \u201cy\u201d"
    chips = page.locator("#selection-selected li").all_inner_texts()
    assert chips == selection["selected"] and "bmi" in chips
    stats = _stats(page)
    assert float(stats["threshold"]) == pytest.approx(selection["threshold"], rel=1e-4)
    assert float(stats["pfer"]) == pytest.approx(selection["pfer"]) and selection["pfer"] == 1
    assert float(stats["pfer bound"]) == pytest.approx(selection["pfer_bound"], rel=1e-4)
    assert selection["pfer_bound"] <= selection["pfer"]  # the bound the threshold was set for
    # The plot draws a line per feature in `paths`, and the threshold the stats tile shows.
    assert page.locator("#plot-stability svg polyline").count() >= len(selection["selected"])
    # The evidence table: every feature's probability; the stable ones marked; sortable both ways.
    probability = {f["feature"]: f["probability"] for f in selection["features"]}
    names = page.locator("#selection-table tbody tr td:nth-child(1)").all_inner_texts()
    assert sorted(names) == sorted(probability)
    marked = page.locator("#selection-table tbody tr[data-selected='true'] td:nth-child(1)")
    assert sorted(marked.all_inner_texts()) == sorted(selection["selected"])
    heading = page.locator("#selection-table th", has_text=re.compile(r"^Probability$"))
    heading.click()
    assert heading.get_attribute("aria-sort") == "descending"
    assert _column(page, 2) == sorted(probability.values(), reverse=True)
    heading.click()
    assert heading.get_attribute("aria-sort") == "ascending"
    assert _column(page, 2) == sorted(probability.values())


def _check_knockoffs(page: Page, server: Server, selection_id: str) -> None:
    selection = _get(server, f"/v1/selections/{selection_id}")
    page.locator("#selection-title", has_text="Knockoff filter").wait_for()
    assert selection["fdr"] == pytest.approx(0.2)
    stats = _stats(page)
    assert float(stats["fdr"]) == pytest.approx(0.2) and stats["method"] == selection["method"]
    threshold = selection["threshold"]
    assert (
        stats["threshold"] == "none"
        if threshold is None
        else float(stats["threshold"]) == pytest.approx(threshold, rel=1e-4)
    )
    assert page.locator("#selection-selected li").all_inner_texts() == (
        selection["selected"] or ["none selected"]
    )
    assert page.locator("#plot-stability").is_hidden()  # only stability draws a path
    statistic = {f["feature"]: f["statistic"] for f in selection["features"]}
    page.locator("#selection-table th", has_text="Statistic W").click()
    assert _column(page, 2) == sorted(statistic.values(), reverse=True)
    marked = page.locator("#selection-table tbody tr[data-selected='true'] td:nth-child(1)")
    assert sorted(marked.all_inner_texts()) == sorted(selection["selected_columns"])


def _check_bootstrap(page: Page, server: Server, selection_id: str) -> None:
    selection = _get(server, f"/v1/selections/{selection_id}")
    page.locator("#selection-title", has_text="Bootstrap selection").wait_for()
    stats = _stats(page)
    assert stats["replicates"] == "20" and selection["replicates"] == 20
    assert float(stats["level"]) == pytest.approx(selection["level"]) and selection["level"] == 0.95
    assert float(stats["alpha"]) == pytest.approx(selection["alpha"], rel=1e-4)
    assert page.locator("#plot-stability").is_hidden()
    headings = page.locator("#selection-table th").all_inner_texts()
    assert headings == ["Design column", "Frequency", "Estimate", "Lower", "Upper"]
    # A row is marked where its interval excludes 0: the API's selected features (numeric columns).
    excludes = sorted(f["feature"] for f in selection["features"] if f["lower"] > 0 or f["upper"] < 0)
    marked = page.locator("#selection-table tbody tr[data-selected='true'] td:nth-child(1)")
    assert sorted(marked.all_inner_texts()) == excludes == sorted(selection["selected"])
    assert "bmi" in excludes
    page.locator("#selection-table th", has_text="Frequency").click()
    frequency = [f["frequency"] for f in selection["features"]]
    assert _column(page, 2) == sorted(frequency, reverse=True)


def test_ui_starts_selection_jobs_and_shows_their_selections(browser: Browser, keyed_server: Server) -> None:
    context, watched = watched_page(browser, keyed_server.base)
    page = watched.page
    page.set_default_timeout(30_000)
    page.goto(f"{keyed_server.base}/ui")
    page.fill("#api-key", KEY)
    page.click("#key-form button[type=submit]")
    page.locator("#key-state", has_text="key accepted").wait_for()
    page.locator("#selections-table td.empty").wait_for()
    page.set_input_files("#upload-file", str(DIABETES))
    page.click("#upload-button")
    from playwright.sync_api import expect

    # A locator wait, not wait_for_function: the page's CSP refuses the eval its polling needs.
    expect(page.locator("#job-target")).to_have_value("y")

    # The form shows a kind's own parameter only for that kind, and disables what it does not take.
    assert page.input_value("#job-kind") == "fit"
    assert page.locator("#job-pfer").is_hidden() and page.locator("#job-fdr").is_hidden()
    page.select_option("#job-kind", "stability")
    assert page.locator("#job-pfer").is_visible() and page.input_value("#job-pfer") == "1"
    assert page.locator("#job-fdr").is_hidden() and page.locator("#job-replicates").is_hidden()
    assert page.locator("#job-folds").is_disabled() and page.locator("#job-penalty").is_enabled()

    # Stability: the body is the JobCreate of docs/api.md, without the CV it does not use.
    page.fill("#job-name", "diabetes stability")
    body = _submit(page, "stability")
    assert body["kind"] == "stability" and body["stability"] == {"pfer": 1}
    assert "cv" not in body and "alpha" not in body and body["penalty"] == "lasso"
    job = _get(keyed_server, f"/v1/jobs/{body['_job_id']}")
    assert job["status"] == "succeeded" and job["selection_id"] and job["model_id"] is None
    assert page.locator("#job-live-model").is_hidden()
    row = page.locator(f"#jobs-table tbody tr[data-id='{job['id']}'][data-status='succeeded']")
    row.wait_for()
    assert (
        row.locator("a", has_text="Open selection").get_attribute("href")
        == f"#/selections/{job['selection_id']}"
    )
    page.locator(f"#selections-table tbody tr[data-id='{job['selection_id']}']").wait_for()
    page.click("#job-live-selection")
    page.wait_for_url(re.compile(rf".*#/selections/{job['selection_id']}$"))
    _check_stability(page, keyed_server, job["selection_id"])
    watched.screenshot("06-stability-selection.png")

    # Knockoffs: lasso only (the penalty is fixed), the fdr sent, CV's folds but no rule or alpha.
    page.click("#view-selection a.back")
    page.locator("#view-home").wait_for()
    page.select_option("#job-penalty", "elasticnet")
    page.select_option("#job-kind", "knockoffs")
    assert page.input_value("#job-penalty") == "lasso" and page.locator("#job-penalty").is_disabled()
    assert page.locator("#job-fdr").is_visible() and page.input_value("#job-fdr") == "0.1"
    page.fill("#job-fdr", "0.2")
    page.fill("#job-name", "diabetes knockoffs")
    body = _submit(page, "knockoffs")
    assert body["kind"] == "knockoffs" and body["knockoffs"] == {"fdr": 0.2}
    assert body["penalty"] == "lasso" and set(body["cv"]) == {"folds"}
    assert not {"alpha", "l1_ratio", "stability", "bootstrap"} & set(body)
    job = _get(keyed_server, f"/v1/jobs/{body['_job_id']}")
    link = page.locator(f"#jobs-table tbody tr[data-id='{job['id']}'] a", has_text="Open selection")
    link.click()
    page.wait_for_url(re.compile(rf".*#/selections/{job['selection_id']}$"))
    _check_knockoffs(page, keyed_server, job["selection_id"])
    watched.screenshot("07-knockoffs-selection.png")

    # Bootstrap: the replicates sent with the whole CV (it chooses the alpha); its view the intervals.
    page.click("#view-selection a.back")
    page.locator("#view-home").wait_for()
    page.select_option("#job-kind", "bootstrap")
    assert page.locator("#job-penalty").is_enabled() and page.locator("#job-fdr").is_hidden()
    assert page.input_value("#job-replicates") == "100"
    page.fill("#job-replicates", "20")
    page.fill("#job-name", "diabetes bootstrap")
    body = _submit(page, "bootstrap")
    assert body["kind"] == "bootstrap" and body["bootstrap"] == {"replicates": 20}
    assert body["cv"]["rule"] == "1se" and body["penalty"] == "lasso" and "knockoffs" not in body
    job = _get(keyed_server, f"/v1/jobs/{body['_job_id']}")
    page.click("#job-live-selection")
    page.wait_for_url(re.compile(rf".*#/selections/{job['selection_id']}$"))
    _check_bootstrap(page, keyed_server, job["selection_id"])

    # The list holds all three, newest first, each opening its view.
    page.click("#view-selection a.back")
    rows = page.locator("#selections-table tbody tr[data-id]")
    rows.nth(2).wait_for()
    items = _get(keyed_server, "/v1/selections")["items"]
    assert [r.get_attribute("data-id") for r in rows.all()] == [s["id"] for s in items]
    assert [s["kind"] for s in items] == ["bootstrap", "knockoffs", "stability"]
    watched.screenshot("08-workspace-selection-jobs.png")
    assert watched.external == [] and _page_errors(watched) == []
    context.close()
