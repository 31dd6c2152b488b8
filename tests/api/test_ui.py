"""The page at /ui, its static files, and /docs and /redoc served from the app (no CDN)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.ui import STATIC_DIR
from service.app import create_app
from service.config import Settings

REPO = Path(__file__).resolve().parents[2]
KEY = "ui-unit-key-1234"
# src="..." and href="..." of a page: what a browser would fetch from it.
LINKS = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.fixture
def keyed_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", workers=1, api_keys=SecretStr(f"ui:{KEY}"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _fetched(page: str, base: str) -> list[str]:
    """The page's links as paths on the server; '#...' anchors are not fetched."""
    paths = []
    for link in LINKS.findall(page):
        if link.startswith("#"):
            continue
        paths.append(link if link.startswith("/") else base.rstrip("/").rsplit("/", 1)[0] + "/" + link)
    return paths


def test_root_redirects_to_ui(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/ui"


def test_ui_page_and_its_files_are_served_without_a_key(keyed_client: TestClient) -> None:
    page = keyed_client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # The page's own files need no key; what they call under /v1 does (the page sends it).
    assert keyed_client.get("/v1/datasets").status_code == 401
    links = _fetched(page.text, "/ui")
    assert {"/ui/static/app.js", "/ui/static/style.css", "/ui/static/favicon.svg"} <= set(links)
    for path in links:
        if path in ("/docs", "/redoc"):
            continue
        response = keyed_client.get(path)
        assert response.status_code == 200, path
    assert (
        keyed_client.get("/ui/static/app.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    assert keyed_client.get("/ui/static/style.css").headers["content-type"].startswith("text/css")
    assert keyed_client.get("/ui/static/missing.js").status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets(keyed_client: TestClient, path: str) -> None:
    page = keyed_client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "://" not in page.text  # no CDN, no Google fonts, no validator badge
    assert "/openapi.json" in page.text
    links = _fetched(page.text, path)
    assert links and all(p.startswith("/ui/static/") for p in links)
    for link in links:
        assert keyed_client.get(link).status_code == 200, link
    vendored = "swagger-ui-bundle.js" if path == "/docs" else "redoc.standalone.js"
    assert any(link.endswith(vendored) for link in links)


def test_docs_pages_stay_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/ui", "/docs", "/redoc"} & set(paths)


def test_every_static_file_is_package_data() -> None:
    """pyproject's package-data globs take every file of service/ui/static into a wheel."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["service.ui"]
    package = STATIC_DIR.parent
    files = [p.relative_to(package).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert {
        "static/index.html",
        "static/vendor/swagger-ui-bundle.js",
        "static/vendor/redoc.standalone.js",
    } <= set(files)
    for name in files:
        # setuptools' "*" does not cross "/": a file in a deeper folder needs its own glob.
        assert any(fnmatch.fnmatch(name, g) and name.count("/") == g.count("/") for g in globs), name
    assert (package / "__init__.py").is_file()  # packages.find only finds it as a package
