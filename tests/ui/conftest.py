"""Headless Debian Chromium driven by playwright-python, against a real server, with screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

# The system's browser: `make pytest` installs Debian's chromium when it is missing; playwright's own
# downloaded browsers (`playwright install`) are never used.
CHROMIUM = Path(os.environ.get("SPARSEFIT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # A missing browser fails the tests, loudly: a skip would let `make test` pass without the page tested.
    if not CHROMIUM.exists():
        pytest.fail(
            f"tests/ui need Chromium at {CHROMIUM}: run `make pytest` (it installs Debian's chromium) or "
            "`apt-get install -y --no-install-recommends chromium`",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("tests/ui need playwright: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class Watched:
    """A page whose requests may go to the server only, and whose console errors are kept."""

    page: Page
    origin: str
    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def watched_page(browser: Browser, origin: str) -> tuple[BrowserContext, Watched]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    watched = Watched(context.new_page(), origin)

    def guard(route: Route) -> None:
        url = route.request.url
        if url == origin or url.startswith(origin + "/"):
            route.continue_()
        else:  # anything else would be the internet: recorded, and never sent
            watched.external.append(url)
            route.abort()

    context.route("**/*", guard)
    watched.page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    watched.page.on("pageerror", lambda e: watched.errors.append(str(e)))
    return context, watched
