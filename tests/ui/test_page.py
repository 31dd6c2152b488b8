"""The page at /ui end to end in headless Chromium against a real server, and /docs and /redoc offline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.conftest import REPO, Server
from tests.ui.conftest import Watched, watched_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "ui-test-key-8f3a"
DIABETES = REPO / "examples" / "diabetes.csv"
LONG = 120_000  # ms: a CV job on two shared cores


def _server(tmp_path: Path, env: dict[str, str]) -> Iterator[Server]:
    instance = Server(tmp_path / "data", env={"OPENBLAS_NUM_THREADS": "1", **env})
    try:
        instance.start()  # inside the try: a server that never got ready is killed too
        yield instance
    finally:
        instance.cleanup()


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[Server]:
    yield from _server(tmp_path, {"SPARSEFIT_API_KEYS": f"ui:{KEY}"})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from _server(tmp_path, {})


def _api(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}", **kwargs.pop("headers", {})}
    return httpx.request(method, f"{server.base}{path}", headers=headers, timeout=60, **kwargs)


# ReDoc's sidebar badge asks cdn.redoc.ly for its logo; the page's policy refuses it before any request.
REDOC_LOGO = "'https://cdn.redoc.ly/redoc/logo-mini.svg'"


def _expected(error: str) -> bool:
    # Chromium logs every 4xx answer to fetch() as a console error; those the test provokes on purpose
    # (the 401 before a key is given, the 422 of a bad prediction) are not faults of the page.
    if error.startswith("Failed to load resource: the server responded"):
        return True
    return REDOC_LOGO in error and "Content Security Policy" in error


def _page_errors(watched: Watched) -> list[str]:
    return [e for e in watched.errors if not _expected(e)]


def _column(page: Page, index: int) -> list[float]:
    cells = page.locator(f"#coef-table tbody tr td:nth-child({index})")
    return [float(v or "nan") for v in cells.evaluate_all("cells => cells.map(c => c.dataset.value)")]


def test_ui_uploads_fits_watches_and_predicts_with_a_key(browser: Browser, keyed_server: Server) -> None:
    context, watched = watched_page(browser, keyed_server.base)
    page = watched.page
    page.set_default_timeout(30_000)
    streams: list[Response] = []
    page.on("response", lambda r: streams.append(r) if r.url.endswith("/events") else None)

    page.goto(f"{keyed_server.base}/")
    assert page.url == f"{keyed_server.base}/ui"
    page.locator("#key-state", has_text="key needed").wait_for()
    page.fill("#api-key", KEY)
    page.click("#key-form button[type=submit]")
    page.locator("#key-state", has_text="key accepted").wait_for()
    assert page.evaluate("sessionStorage.getItem('sparsefit.apiKey')") == KEY

    # Upload: the dataset appears in the list and becomes the job form's dataset, target y.
    page.set_input_files("#upload-file", str(DIABETES))
    page.fill("#upload-name", "diabetes")
    page.click("#upload-button")
    page.locator("#upload-result", has_text="442 rows, 11 columns").wait_for()
    [dataset] = _api(keyed_server, "GET", "/v1/datasets").json()["items"]
    assert page.locator(f"#datasets-table tbody tr[data-id='{dataset['id']}']").count() == 1
    assert page.input_value("#job-dataset") == dataset["id"]
    # The target list is filled from the dataset's columns, read after the dataset is chosen.
    page.wait_for_function("document.querySelector('#job-target').value === 'y'")
    assert page.input_value("#job-target") == "y" and page.input_value("#job-family") == "gaussian"

    # A lasso CV job from the form, watched live until it is done.
    page.fill("#job-name", "diabetes lasso")
    page.select_option("#job-penalty", "lasso")
    page.fill("#job-folds", "5")
    page.select_option("#job-rule", "1se")
    page.click("#job-submit")
    page.locator("#job-live-status", has_text="succeeded").wait_for(timeout=LONG)
    assert page.locator("#job-live-stage").inner_text().startswith("100%")
    [job] = _api(keyed_server, "GET", "/v1/jobs").json()["items"]
    assert job["status"] == "succeeded" and job["request"]["cv"]["folds"] == 5
    assert job["request"]["penalty"] == "lasso" and job["name"] == "diabetes lasso"
    # The page reads progress and status from the job's event stream (fetch, with the key), and
    # only from there: it never polls the job, so the "succeeded" above came from the stream.
    [stream] = [r for r in streams if f"/v1/jobs/{job['id']}/events" in r.url]
    assert stream.request.headers.get("authorization") == f"Bearer {KEY}"
    blocks = [b.splitlines() for b in stream.text().split("\n\n") if b.startswith("event: ")]
    kinds = [lines[0].removeprefix("event: ") for lines in blocks]
    assert "progress" in kinds and kinds[-1] == "status"
    final = json.loads(blocks[-1][1].removeprefix("data: "))
    assert final["status"] == "succeeded" and final["model_id"] == job["model_id"]
    page.locator(f"#jobs-table tbody tr[data-id='{job['id']}'][data-status='succeeded']").wait_for()
    page.locator(f"#models-table tbody tr[data-id='{job['model_id']}']").wait_for()
    watched.screenshot("01-workspace-upload-and-jobs.png")

    # The model: selected features, both plots inline, the CV numbers.
    page.click("#job-live-model")
    page.wait_for_url(re.compile(r".*#/models/[0-9a-f]{32}$"))
    model = _api(keyed_server, "GET", f"/v1/models/{job['model_id']}").json()
    cv = _api(keyed_server, "GET", f"/v1/models/{job['model_id']}/cv").json()
    page.locator("#plot-path .plot-body svg").wait_for()
    page.locator("#plot-cv .plot-body svg").wait_for()
    assert page.inner_text("#model-title") == "diabetes lasso"
    assert page.locator("#model-selected li").all_inner_texts() == model["selected_features"]
    path_title = page.locator("#plot-path svg > title").text_content()
    assert path_title == "diabetes lasso \u2014 Coefficient path (l1_ratio = 1)"
    assert (page.locator("#plot-cv svg > title").text_content() or "").startswith("diabetes lasso \u2014 ")
    assert page.locator("#plot-cv svg text.n-selected").count() >= 3
    assert page.locator("#plot-path svg polyline.coef").count() >= len(model["selected_features"])
    cv_rows = dict(
        zip(
            page.locator("#cv-table th").all_inner_texts(),
            page.locator("#cv-table td").all_inner_texts(),
            strict=True,
        )
    )
    assert cv_rows["rule"] == "1se" and cv_rows["folds"] == "5" and cv_rows["metric"] == cv["metric"]
    assert float(cv_rows["alpha_1se"]) == pytest.approx(cv["alpha_1se"], rel=1e-4)

    # The coefficient table: the nonzero coefficients, sorted by a click on a heading, reversed by another.
    nonzero = {c["feature"]: c["value"] for c in model["coefficients"] if c["value"] != 0}
    names = page.locator("#coef-table tbody tr td:nth-child(1)").all_inner_texts()
    assert sorted(names) == sorted(nonzero)
    heading = page.locator("#coef-table th", has_text=re.compile(r"^Coefficient$"))
    heading.click()
    assert heading.get_attribute("aria-sort") == "descending"
    values = _column(page, 2)
    assert values == sorted(nonzero.values(), reverse=True)
    heading.click()
    assert heading.get_attribute("aria-sort") == "ascending" and _column(page, 2) == sorted(nonzero.values())
    page.locator("#coef-table th", has_text="Feature").click()
    assert page.locator("#coef-table tbody tr td:nth-child(1)").all_inner_texts() == sorted(nonzero)

    # Predictions from pasted CSV rows equal the API's for the same rows.
    rows = "\n".join(DIABETES.read_text().splitlines()[:6]) + "\n"
    page.fill("#predict-csv", rows)
    page.click("#predict-button")
    page.locator("#predict-table td.prediction").first.wait_for()
    shown = [
        float(v)
        for v in page.locator("#predict-table td.prediction").evaluate_all(
            "cs => cs.map(c => c.dataset.value)"
        )
    ]
    expected = _api(
        keyed_server,
        "POST",
        f"/v1/models/{job['model_id']}/predictions",
        content=rows.encode(),
        headers={"Content-Type": "text/csv"},
    ).json()
    assert shown == expected["predictions"] and len(shown) == 5
    watched.screenshot("02-model-plots-coefficients-predictions.png")

    # A bad request shows the problem's title and detail.
    page.fill("#predict-csv", "age,sex\n50,1\n")
    page.click("#predict-button")
    page.locator("#alert").wait_for()
    problem = _api(
        keyed_server,
        "POST",
        f"/v1/models/{job['model_id']}/predictions",
        content=b"age,sex\n50,1\n",
        headers={"Content-Type": "text/csv"},
    ).json()
    assert problem["type"] == "/problems/feature-mismatch"
    assert page.inner_text("#alert-title") == problem["title"]
    assert page.inner_text("#alert-detail") == problem["detail"]
    watched.screenshot("03-model-error.png")

    assert watched.external == [] and _page_errors(watched) == []
    context.close()


def test_docs_and_redoc_render_offline(browser: Browser, server: Server) -> None:
    context, watched = watched_page(browser, server.base)
    page = watched.page
    page.set_default_timeout(30_000)
    page.goto(f"{server.base}/docs")
    page.locator(".swagger-ui .info .title", has_text="Sparsefit").wait_for()
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert page.locator(".swagger-ui .opblock").count() >= 10
    watched.screenshot("04-docs-swagger-ui.png", full_page=False)
    page.goto(f"{server.base}/redoc")
    page.locator("h1", has_text="Sparsefit").first.wait_for()
    page.locator("h2", has_text="Create Job").first.wait_for()
    watched.screenshot("05-redoc.png", full_page=False)
    assert watched.external == [] and _page_errors(watched) == []
    context.close()


def test_ui_works_without_keys(browser: Browser, server: Server) -> None:
    context, watched = watched_page(browser, server.base)
    page = watched.page
    page.set_default_timeout(30_000)
    page.goto(f"{server.base}/ui")
    page.locator("#key-state", has_text="no key needed").wait_for()
    page.locator("#datasets-table td.empty").wait_for()
    page.set_input_files("#upload-file", str(DIABETES))
    page.click("#upload-button")
    page.locator("#datasets-table tbody tr[data-id]").wait_for()
    # The target list is filled from the new dataset's columns once they arrive.
    page.wait_for_function("document.querySelector('#job-target').value === 'y'")
    assert page.input_value("#job-target") == "y"
    assert watched.external == [] and _page_errors(watched) == []
    context.close()
